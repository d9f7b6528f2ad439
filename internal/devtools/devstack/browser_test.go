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
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bindery/bindery/internal/devtools/browsertest"
)

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

// driver runs browser steps for a test: every failure names the step,
// saves a screenshot and lists what the pages logged as errors.
type driver struct {
	t    *testing.T
	out  string
	errs pageErrors
}

// newBrowser starts a headless Chromium with a fresh profile and returns
// its first tab; the browser ends with the test.
func (d *driver) newBrowser(name string) context.Context {
	t := d.t
	t.Helper()
	exe := browsertest.Chromium(t)
	// A bound on the browser's whole life, so a hung Chromium cannot hold
	// the test run; the steps have their own, shorter deadlines.
	root, cancelRoot := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancelRoot)
	alloc, cancelAlloc := chromedp.NewExecAllocator(root, browsertest.Options(exe, t.TempDir(), 1280, 900)...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	// The first run starts the browser; it lives as long as tab.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	d.errs.watch(t, tab, name)
	return tab
}

// newTab opens another tab in the browser of ctx.
func (d *driver) newTab(ctx context.Context, name string) context.Context {
	tab, cancel := chromedp.NewContext(ctx)
	d.t.Cleanup(cancel)
	d.errs.watch(d.t, tab, name)
	return tab
}

func (d *driver) step(ctx context.Context, what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	d.t.Helper()
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		shot(d.t, ctx, d.out, "failed-"+strings.ReplaceAll(what, " ", "-"))
		d.t.Fatalf("%s: %v (page errors: %v)", what, err, d.errs.list())
	}
}

func (d *driver) text(ctx context.Context, sel string) string {
	d.t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		d.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// wait polls a JavaScript condition in the page until it holds.
func (d *driver) wait(ctx context.Context, what, js string, timeout time.Duration) {
	d.t.Helper()
	d.step(ctx, what, timeout, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout))(ctx, tg)
		return err
	}))
}

// noPageErrors fails the test if a page threw or logged an error.
func (d *driver) noPageErrors() {
	d.t.Helper()
	if e := d.errs.list(); len(e) > 0 {
		d.t.Fatalf("the pages logged errors: %v", e)
	}
}

var qrIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// pendingQR waits until /demo/pc shows a loaded QR code waiting for a
// scan, and returns its id.
func (d *driver) pendingQR(pc context.Context, not string) string {
	d.t.Helper()
	d.wait(pc, "QR code shown", `(() => { const i = document.getElementById('qr-img'); return i.complete && i.naturalWidth > 0 && document.getElementById('qr-wrap').dataset.state === 'PENDING' && document.getElementById('qr-id').textContent !== '`+not+`'; })()`, 20*time.Second)
	id := d.text(pc, "#qr-id")
	if !qrIDPattern.MatchString(id) || id == not {
		d.t.Fatalf("PC shows QR id %q", id)
	}
	return id
}

// The whole demo in a real browser: /demo/pc shows a QR code; /demo/phone
// creates a simulated WeChat user, logs in, registers, scans the PC's code
// by its URL, is shown who asked, and confirms; /demo/pc then shows the
// account it is logged in as. Then the PC logs out and gets a new code,
// which the phone cancels: the PC says so and offers another code.
// Screenshots of both pages are saved.
func TestDemoInBrowser(t *testing.T) {
	t.Parallel()
	d := &driver{t: t, out: browsertest.ArtifactDir(t, "")}
	pc := d.newBrowser("pc")
	st, _ := startStack(t, "")
	phone := d.newTab(pc, "phone")
	out := d.out

	// The PC asks for a QR login and shows the code.
	d.step(pc, "open /demo/pc", 20*time.Second,
		chromedp.EmulateViewport(1200, 900),
		chromedp.Navigate(st.URL+"/demo/pc"),
	)
	qrID := d.pendingQR(pc, "")
	if qrURL := d.text(pc, "#qr-url"); qrURL != st.URL+"/qr/"+qrID {
		t.Fatalf("PC shows QR URL %q for id %q", qrURL, qrID)
	}
	qrURL := st.URL + "/qr/" + qrID
	shots := map[string][]byte{}
	shot(t, pc, out, "demo-pc-qr")

	// The phone: a new simulated WeChat user logs in and registers.
	d.step(phone, "open /demo/phone", 20*time.Second,
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
	if got := d.text(phone, "#login-outcome"); got != "USER_REGISTER" {
		t.Fatalf("login outcome %q, want USER_REGISTER", got)
	}
	d.step(phone, "register", 20*time.Second,
		chromedp.SetValue(chromedp.CSS("#display-name"), "Ada Lovelace"),
		chromedp.Click(chromedp.CSS("#register")),
		chromedp.WaitVisible(chromedp.CSS(`#account[data-ready="true"]`)),
	)
	accountID := d.text(phone, "#me-id")
	if name := d.text(phone, "#me-name"); name != "Ada Lovelace" || !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(accountID) {
		t.Fatalf("phone logged in as %q (%q)", name, accountID)
	}

	// It scans the PC's code by pasting its URL and sees who asked.
	d.step(phone, "scan", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#scan-input"), qrURL),
		chromedp.Click(chromedp.CSS("#scan")),
		chromedp.WaitVisible(chromedp.CSS("#requester")),
	)
	if ip, ua := d.text(phone, "#req-ip"), d.text(phone, "#req-ua"); ip != "127.0.0.1" || !strings.Contains(ua, "HeadlessChrome") {
		t.Fatalf("requester shown: ip %q, user agent %q", ip, ua)
	}
	if br := d.text(phone, "#req-browser"); br != "Headless Chrome on Linux" {
		t.Errorf("browser shown as %q", br)
	}
	d.wait(pc, "PC shows the scan", `document.getElementById('qr-wrap').dataset.state === 'SCANNED'`, 20*time.Second)
	if who := d.text(pc, "#scanned-by"); who != "Ada Lovelace" {
		t.Fatalf("PC shows scanned by %q", who)
	}
	shot(t, phone, out, "demo-phone-confirm")
	shot(t, pc, out, "demo-pc-scanned")
	// For the side-by-side picture: what each screen shows at this moment,
	// the phone scrolled to its confirm card.
	d.step(phone, "scroll to the confirm card", 10*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[chromedp.Void](`document.getElementById('requester').scrollIntoView({block: 'end'})`)(ctx, tg)
		return err
	}))
	shots["phone-confirm"] = view(t, phone)
	shots["pc-scanned"] = view(t, pc)

	// Confirm: the PC is logged in as the phone's account.
	d.step(phone, "confirm", 20*time.Second,
		chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS(`#scan-status[data-done="confirm"]`)),
	)
	d.step(pc, "PC logged in", 20*time.Second, chromedp.WaitVisible(chromedp.CSS(`#account-card[data-ready="true"]`)))
	if name, id := d.text(pc, "#acc-name"), d.text(pc, "#acc-id"); name != "Ada Lovelace" || id != accountID {
		t.Fatalf("PC logged in as %q (%q), want Ada Lovelace (%s)", name, id, accountID)
	}
	if info := d.text(pc, "#userinfo"); !strings.Contains(info, accountID) || !strings.Contains(info, "Ada Lovelace") {
		t.Fatalf("PC userinfo: %s", info)
	}
	shot(t, pc, out, "demo-pc-logged-in")
	shot(t, phone, out, "demo-phone-confirmed")
	if err := sideBySide(filepath.Join(out, "demo.png"), shots["pc-scanned"], shots["phone-confirm"]); err != nil {
		t.Fatal(err)
	}

	// The PC logs out (revoking its session) and shows a new code; the
	// phone scans it with the button that takes the code open on /demo/pc,
	// and cancels.
	d.step(pc, "log out", 20*time.Second, chromedp.Click(chromedp.CSS("#logout")))
	second := d.pendingQR(pc, qrID)
	d.step(phone, "scan the open code", 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS("#use-open-qr")),
		chromedp.Click(chromedp.CSS("#use-open-qr")),
		chromedp.WaitVisible(chromedp.CSS("#requester")),
	)
	vctx, cancel := context.WithTimeout(phone, 10*time.Second)
	got, err := chromedp.Run(vctx, chromedp.Value(chromedp.CSS("#scan-input")))
	cancel()
	if err != nil || !strings.Contains(got, second) {
		t.Fatalf("the phone scanned %q (%v), want the open code %s", got, err, second)
	}
	d.step(phone, "cancel", 20*time.Second,
		chromedp.Click(chromedp.CSS("#cancel")),
		chromedp.WaitVisible(chromedp.CSS(`#scan-status[data-done="cancel"]`)),
	)
	d.wait(pc, "PC shows the cancellation", `document.getElementById('qr-wrap').dataset.state === 'CANCELLED' && !document.getElementById('new-code').hidden`, 20*time.Second)
	shot(t, pc, out, "demo-pc-cancelled")
	d.step(pc, "get a new code", 10*time.Second, chromedp.Click(chromedp.CSS("#new-code")))
	d.pendingQR(pc, second)

	d.noPageErrors()
	t.Logf("screenshots in %s (demo.png: PC and phone side by side)", out)
}

// An unscanned code expires (here after the shortest QR TTL, 10 s): the
// PC page says so at once and offers a new code.
func TestDemoPCShowsExpiry(t *testing.T) {
	t.Parallel()
	d := &driver{t: t, out: browsertest.ArtifactDir(t, "")}
	pc := d.newBrowser("pc")
	st, _ := startStackWith(t, "", map[string]string{"BINDERY_QR_TTL": "10s"})
	d.step(pc, "open /demo/pc", 20*time.Second, chromedp.EmulateViewport(1200, 900), chromedp.Navigate(st.URL+"/demo/pc"))
	first := d.pendingQR(pc, "")
	d.wait(pc, "PC shows the expiry", `document.getElementById('qr-wrap').dataset.state === 'EXPIRED' && !document.getElementById('new-code').hidden`, 25*time.Second)
	if s := d.text(pc, "#status"); !strings.Contains(s, "expired") {
		t.Fatalf("status after expiry: %q", s)
	}
	shot(t, pc, d.out, "demo-pc-expired")
	d.step(pc, "get a new code", 10*time.Second, chromedp.Click(chromedp.CSS("#new-code")))
	d.pendingQR(pc, first)
	d.noPageErrors()
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
