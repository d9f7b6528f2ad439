package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// findChromium returns the browser to drive. Without one the test fails in
// CI (CI set) and is skipped elsewhere, saying how to get it.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BINDERY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (install Debian's chromium: apt-get install chromium, or run `make test-deps`; or set BINDERY_CHROMIUM)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// artifactDir is where screenshots go: artifacts/ at the repository root
// (git-ignored), or a temp dir when that is not writable.
func artifactDir(t *testing.T) string {
	t.Helper()
	a := filepath.Join(repoRoot(t), "artifacts")
	if os.MkdirAll(a, 0o755) == nil {
		if f, err := os.CreateTemp(a, ".probe"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return a
		}
	}
	return t.TempDir()
}

// browserOptions are the flags of a headless Chromium that runs as root in
// a container, with a fresh profile.
func browserOptions(exe, profile string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
}

// pageErrors collects what a page throws or logs as an error: a demo page
// must run without either.
type pageErrors struct {
	mu   sync.Mutex
	msgs []string
}

func (p *pageErrors) watch(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				p.mu.Lock()
				p.msgs = append(p.msgs, name+": "+m.String())
				p.mu.Unlock()
			}
		}
	}()
}

func (p *pageErrors) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.msgs...)
}

// The whole demo in a real browser: /demo/pc shows a QR code; /demo/phone
// creates a simulated WeChat user, logs in, registers, scans the PC's code
// by its URL, is shown who asked, and confirms; /demo/pc then shows the
// account it is logged in as. Screenshots of both pages are saved.
func TestDemoInBrowser(t *testing.T) {
	exe := findChromium(t)
	st, _ := startStack(t, "")
	out := artifactDir(t)

	root, cancelRoot := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancelRoot()
	alloc, cancelAlloc := chromedp.NewExecAllocator(root, browserOptions(exe, t.TempDir())...)
	defer cancelAlloc()
	pc, cancelPC := chromedp.NewContext(alloc)
	defer cancelPC()
	// The first run starts the browser; it lives as long as pc.
	if err := chromedp.Do(pc); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	phone, cancelPhone := chromedp.NewContext(pc) // a second tab
	defer cancelPhone()
	var errs pageErrors
	errs.watch(t, pc, "pc")
	errs.watch(t, phone, "phone")

	step := func(ctx context.Context, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			shot(t, ctx, out, "failed-"+strings.ReplaceAll(what, " ", "-"))
			t.Fatalf("%s: %v (page errors: %v)", what, err, errs.list())
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	wait := func(ctx context.Context, what, js string) {
		t.Helper()
		step(ctx, what, 20*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))(ctx, tg)
			return err
		}))
	}

	// The PC asks for a QR login and shows the code.
	step(pc, "open /demo/pc", 20*time.Second,
		chromedp.EmulateViewport(1200, 900),
		chromedp.Navigate(st.URL+"/demo/pc"),
	)
	wait(pc, "QR image shown", `(() => { const i = document.getElementById('qr-img'); return i.complete && i.naturalWidth > 0 && document.getElementById('qr-wrap').dataset.state === 'PENDING'; })()`)
	qrID, qrURL := text(pc, "#qr-id"), text(pc, "#qr-url")
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(qrID) || qrURL != st.URL+"/qr/"+qrID {
		t.Fatalf("PC shows QR id %q, URL %q", qrID, qrURL)
	}
	shots := map[string][]byte{}
	shots["pc-qr"] = shot(t, pc, out, "demo-pc-qr")

	// The phone: a new simulated WeChat user logs in and registers.
	step(phone, "open /demo/phone", 20*time.Second,
		chromedp.EmulateViewport(420, 900),
		chromedp.Navigate(st.URL+"/demo/phone"),
		chromedp.WaitVisible(chromedp.CSS("#create-user")),
		chromedp.SendKeys(chromedp.CSS("#nickname"), "Ada"),
		chromedp.SendKeys(chromedp.CSS("#phone"), "+8613800138000"),
		chromedp.Click(chromedp.CSS("#create-user")),
		chromedp.WaitVisible(chromedp.CSS("#user-current")),
		chromedp.WaitEnabled(chromedp.CSS("#wx-login")),
		chromedp.Click(chromedp.CSS("#wx-login")),
		chromedp.WaitVisible(chromedp.CSS("#bind-panel")),
	)
	if got := text(phone, "#login-outcome"); got != "USER_REGISTER" {
		t.Fatalf("login outcome %q, want USER_REGISTER", got)
	}
	step(phone, "register", 20*time.Second,
		chromedp.SetValue(chromedp.CSS("#display-name"), "Ada Lovelace"),
		chromedp.Click(chromedp.CSS("#register")),
		chromedp.WaitVisible(chromedp.CSS(`#account[data-ready="true"]`)),
	)
	accountID := text(phone, "#me-id")
	if name := text(phone, "#me-name"); name != "Ada Lovelace" || !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(accountID) {
		t.Fatalf("phone logged in as %q (%q)", name, accountID)
	}

	// It scans the PC's code by pasting its URL and sees who asked.
	step(phone, "scan", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#scan-input"), qrURL),
		chromedp.Click(chromedp.CSS("#scan")),
		chromedp.WaitVisible(chromedp.CSS("#requester")),
	)
	if ip, ua := text(phone, "#req-ip"), text(phone, "#req-ua"); ip != "127.0.0.1" || !strings.Contains(ua, "HeadlessChrome") {
		t.Fatalf("requester shown: ip %q, user agent %q", ip, ua)
	}
	if br := text(phone, "#req-browser"); br != "Headless Chrome on Linux" {
		t.Errorf("browser shown as %q", br)
	}
	wait(pc, "PC shows the scan", `document.getElementById('qr-wrap').dataset.state === 'SCANNED'`)
	if who := text(pc, "#scanned-by"); who != "Ada Lovelace" {
		t.Fatalf("PC shows scanned by %q", who)
	}
	shot(t, phone, out, "demo-phone-confirm")
	shot(t, pc, out, "demo-pc-scanned")
	// For the side-by-side picture: what each screen shows at this moment,
	// the phone scrolled to its confirm card.
	step(phone, "scroll to the confirm card", 10*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[chromedp.Void](`document.getElementById('requester').scrollIntoView({block: 'end'})`)(ctx, tg)
		return err
	}))
	shots["phone-confirm"] = view(t, phone)
	shots["pc-scanned"] = view(t, pc)

	// Confirm: the PC is logged in as the phone's account.
	step(phone, "confirm", 20*time.Second,
		chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS(`#scan-status[data-done="confirm"]`)),
	)
	step(pc, "PC logged in", 20*time.Second, chromedp.WaitVisible(chromedp.CSS(`#account-card[data-ready="true"]`)))
	if name, id := text(pc, "#acc-name"), text(pc, "#acc-id"); name != "Ada Lovelace" || id != accountID {
		t.Fatalf("PC logged in as %q (%q), want Ada Lovelace (%s)", name, id, accountID)
	}
	if info := text(pc, "#userinfo"); !strings.Contains(info, accountID) || !strings.Contains(info, "Ada Lovelace") {
		t.Fatalf("PC userinfo: %s", info)
	}
	shots["pc-logged-in"] = shot(t, pc, out, "demo-pc-logged-in")
	shots["phone-done"] = shot(t, phone, out, "demo-phone-confirmed")

	if e := errs.list(); len(e) > 0 {
		t.Fatalf("the pages logged errors: %v", e)
	}
	if err := sideBySide(filepath.Join(out, "demo.png"), shots["pc-scanned"], shots["phone-confirm"]); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s (demo.png: PC and phone side by side)", out)
}

// shot saves a full-page PNG of the tab as <dir>/<name>.png and returns it.
func shot(t *testing.T, ctx context.Context, dir, name string) []byte {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	buf, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return nil
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return buf
	}
	t.Logf("screenshot: %s", p)
	return buf
}

// view is a PNG of what the tab's viewport shows.
func view(t *testing.T, ctx context.Context) []byte {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	buf, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return buf
}

// sideBySide writes the two PNGs next to each other on the page colour.
func sideBySide(file string, left, right []byte) error {
	if left == nil || right == nil {
		return errors.New("side by side: a screenshot is missing")
	}
	a, err := png.Decode(bytes.NewReader(left))
	if err != nil {
		return fmt.Errorf("side by side: %w", err)
	}
	b, err := png.Decode(bytes.NewReader(right))
	if err != nil {
		return fmt.Errorf("side by side: %w", err)
	}
	const gap = 24
	w := a.Bounds().Dx() + b.Bounds().Dx() + 3*gap
	h := max(a.Bounds().Dy(), b.Bounds().Dy()) + 2*gap
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{0xd1, 0xd5, 0xdb, 0xff}}, image.Point{}, draw.Src)
	draw.Draw(img, a.Bounds().Add(image.Pt(gap, gap)), a, a.Bounds().Min, draw.Src)
	draw.Draw(img, b.Bounds().Add(image.Pt(2*gap+a.Bounds().Dx(), gap)), b, b.Bounds().Min, draw.Src)
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(file, buf.Bytes(), 0o644)
}
