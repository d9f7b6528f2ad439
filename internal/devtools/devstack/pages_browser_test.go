package devstack

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bindery/bindery/internal/devtools/browsertest"
)

// The pages for people in a real browser: the home page, and the page a QR
// code's URL opens on a phone (narrow viewport) outside the mini program.
// Screenshots of both are saved.
func TestPagesInBrowser(t *testing.T) {
	t.Parallel()
	d := &driver{t: t, out: browsertest.ArtifactDir(t, "")}
	tab := d.newBrowser("pages")
	st, _ := startStack(t, "")

	d.step(tab, "open the home page", 20*time.Second,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(st.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#home")),
	)
	if h := d.text(tab, "h1"); !strings.Contains(h, "mini programs") {
		t.Fatalf("home page heading %q", h)
	}
	d.wait(tab, "home page links to the demo", `!!document.querySelector('a[href="/demo/pc"]')`, 5*time.Second)
	shot(t, tab, d.out, "home")

	// A PC asks for a QR login; a phone's camera opens its URL.
	d.step(tab, "open /demo/pc", 20*time.Second, chromedp.Navigate(st.URL+"/demo/pc"))
	qrID := d.pendingQR(tab, "")
	d.step(tab, "open the QR URL as a phone would", 20*time.Second,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(st.URL+"/qr/"+qrID),
		chromedp.WaitVisible(chromedp.CSS("#qr-landing")),
	)
	d.wait(tab, "landing page names the code and its state", `(() => { const e = document.getElementById('qr-landing'); return e.dataset.qrId === '`+qrID+`' && e.dataset.state === 'PENDING'; })()`, 5*time.Second)
	if h := d.text(tab, "h1"); !strings.HasPrefix(h, "Sign in to ") {
		t.Fatalf("landing page heading %q", h)
	}
	shot(t, tab, d.out, "qr-landing")
	d.noPageErrors()
}
