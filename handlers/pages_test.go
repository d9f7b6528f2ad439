package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// The URL in a QR code is a page for people: opened outside the mini
// program it names the app and says how to go on, or that the code is over;
// it never shows who asked.
func TestQRLandingPage(t *testing.T) {
	env := startQR(t, "", nil)
	if r := env.Admin("PUT", "/v1/apps/"+qrApp, map[string]any{"name": "Acme Portal", "kind": "host", "host": map[string]any{"secret": "host-secret-0123456789abcdef"}}); r.Status != http.StatusOK {
		t.Fatalf("rename app: %d %s", r.Status, r.Body)
	}
	q := env.start("User-Agent", "Mozilla/5.0 SecretBrowser/9")
	page := func(path string, status int) string {
		t.Helper()
		r := env.Do("GET", path, nil)
		if r.Status != status || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatalf("GET %s: %d %v\n%s", path, r.Status, r.Header, r.Body)
		}
		return string(r.Body)
	}
	var body string
	testenv.Eventually(t, 10*time.Second, func() bool {
		body = page(strings.TrimPrefix(q.QRURL, env.URL), http.StatusOK)
		return strings.Contains(body, "Acme Portal")
	})
	for _, want := range []string{`data-qr-id="` + q.QRID + `"`, `data-state="PENDING"`, "Sign in to Acme Portal", "Open <strong>WeChat</strong>", "Scan"} {
		if !strings.Contains(body, want) {
			t.Errorf("pending page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "SecretBrowser") || strings.Contains(body, "127.0.0.1") {
		t.Errorf("the page shows who asked:\n%s", body)
	}

	env.clock.Advance(301 * time.Second)
	body = page("/qr/"+q.QRID, http.StatusOK)
	if !strings.Contains(body, `data-state="EXPIRED"`) || !strings.Contains(body, "Expired") || strings.Contains(body, "How to continue") {
		t.Errorf("expired page:\n%s", body)
	}
	body = page("/qr/AAAAAAAAAAAAAAAAAAAAAA", http.StatusNotFound)
	if !strings.Contains(body, "unknown") {
		t.Errorf("unknown code page:\n%s", body)
	}
	// Markup in a value stays text.
	if r := env.Admin("PUT", "/v1/apps/"+qrApp, map[string]any{"name": "<script>x</script>", "kind": "host", "host": map[string]any{"secret": "host-secret-0123456789abcdef"}}); r.Status != http.StatusOK {
		t.Fatalf("rename app: %d %s", r.Status, r.Body)
	}
	q2 := env.start()
	testenv.Eventually(t, 10*time.Second, func() bool {
		body = page("/qr/"+q2.QRID, http.StatusOK)
		return strings.Contains(body, "&lt;script&gt;")
	})
	if strings.Contains(body, "<script>") {
		t.Errorf("the app name is not escaped:\n%s", body)
	}
}

// GET / says what the server is and links onward.
func TestHomePage(t *testing.T) {
	env := startQR(t, "", nil)
	r := env.Do("GET", "/", nil)
	body := string(r.Body)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %v", r.Status, r.Header)
	}
	for _, want := range []string{"Bindery", env.URL, `href="/openapi.yaml"`, `href="/.well-known/openid-configuration"`} {
		if !strings.Contains(body, want) {
			t.Errorf("home page lacks %q:\n%s", want, body)
		}
	}
	if css := env.Do("GET", "/pages/layout.css", nil); css.Status != http.StatusOK || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %v", css.Status, css.Header)
	}
}
