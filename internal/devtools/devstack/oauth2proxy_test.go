package devstack

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bindery/bindery/internal/devtools/browsertest"
	"github.com/bindery/bindery/internal/devtools/demo"
	"github.com/bindery/bindery/internal/devtools/oauth2proxy"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// oauth2ProxyArgs is the oauth2-proxy configuration docs/sso.md shows,
// for a proxy on addr in front of upstream.
func oauth2ProxyArgs(issuer, addr, upstream, secret string) []string {
	return []string{
		"--provider=oidc",
		"--provider-display-name=Bindery",
		"--oidc-issuer-url=" + issuer,
		"--client-id=proxy",
		"--client-secret=" + secret,
		"--code-challenge-method=S256",
		"--scope=openid profile",
		"--oidc-email-claim=sub", // accounts need no e-mail address: the account id stands in
		"--user-id-claim=sub",
		"--email-domain=*",
		"--skip-provider-button=true",
		"--http-address=" + addr,
		"--redirect-url=http://" + addr + "/oauth2/callback",
		"--upstream=" + upstream,
		"--cookie-secret=0123456789abcdef0123456789abcdef",
		"--cookie-secure=false",
	}
}

// A relying party nobody here wrote: oauth2-proxy, built from its Go
// module, in front of a small upstream, with Bindery as its OpenID
// Provider. Headless Chromium opens the upstream through the proxy, lands
// on Bindery's hosted login page, the phone confirms the QR code, and the
// upstream answers with the user oauth2-proxy passes on: the account id.
func TestOAuth2ProxyInBrowser(t *testing.T) {
	t.Parallel()
	d := &driver{t: t, out: browsertest.ArtifactDir(t, "")}
	// Built from its module on a fresh machine: minutes under a loaded
	// test run, so the browser (whose life is bounded) starts after it.
	bin := oauth2proxy.Binary(t)
	st, _ := startStack(t, "")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		u := html.EscapeString(r.Header.Get("X-Forwarded-User"))
		fmt.Fprintf(w, `<!doctype html><h1>Upstream behind oauth2-proxy</h1><p id="user" data-user="%s">Signed in through Bindery as account %s</p>`, u, u)
	}))
	t.Cleanup(upstream.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	const secret = "proxy-secret-0123456789abcdef"
	api(t, "PUT", st.URL+"/v1/oidc/clients/proxy", "dev", map[string]any{"name": "Intranet (oauth2-proxy)", "app": demo.App, "type": "confidential",
		"secret": secret, "redirect_uris": []string{"http://" + addr + "/oauth2/callback"}})
	idToken, accountID := miniProgramUser(t, st, "Ada")

	logs := &testenv.SyncBuffer{}
	cmd := exec.Command(bin, oauth2ProxyArgs(st.URL, addr, upstream.URL, secret)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("oauth2-proxy log:\n%s", logs)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy did not answer /ping: %v\n%s", err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	browser := d.newBrowser("oauth2-proxy")
	d.step(browser, "open the upstream through oauth2-proxy", 20*time.Second, chromedp.Navigate("http://"+addr+"/"))
	qr := d.loginPageQR(browser, st, "")
	if got := d.text(browser, "h1"); !strings.Contains(got, "Intranet (oauth2-proxy)") {
		t.Fatalf("the login page says %q", got)
	}
	api(t, "POST", st.URL+"/v1/qr/"+qr+"/scan", idToken, nil)
	api(t, "POST", st.URL+"/v1/qr/"+qr+"/confirm", idToken, nil)
	d.step(browser, "the upstream, signed in", 30*time.Second, chromedp.WaitVisible(chromedp.CSS("#user")))
	actx, cancel := context.WithTimeout(browser, 5*time.Second)
	user, err := chromedp.Run(actx, chromedp.AttributeValue(chromedp.CSS("#user"), "data-user"))
	cancel()
	if err != nil || user.Value != accountID {
		t.Fatalf("the upstream got X-Forwarded-User %+v (%v), want %s", user, err, accountID)
	}
	shot(t, browser, d.out, "sso-oauth2-proxy-upstream")
}
