package devstack

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bindery/bindery/internal/devtools/browsertest"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// smsGateway is the SMS gateway Bindery posts one-time codes to
// (BINDERY_OTP_WEBHOOK): it keeps them by address.
type smsGateway struct {
	mu    sync.Mutex
	codes map[string][]string
}

func (g *smsGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m struct{ Channel, To, Code string }
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.Header.Get("X-Bindery-Signature") == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.codes[m.To] = append(g.codes[m.To], m.Code)
	g.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (g *smsGateway) sent(to string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.codes[to]...)
}

// amrClaim is the amr of an id_token, joined by commas.
func amrClaim(t *testing.T, idToken string) string {
	t.Helper()
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", idToken)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		AMR []string `json:"amr"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return strings.Join(c.AMR, ",")
}

// The hosted login page's alternatives, in a real browser, for a web app
// with a stock OIDC client (go-oidc, x/oauth2, PKCE S256): the login_hint
// prefills the password form; a wrong password is told on the page; the
// right one signs the browser in (amr pwd). Then, asked to sign in again,
// the browser asks for a code by text message, the gateway receives it,
// and the code typed on the page signs in (amr otp,sms).
func TestSSOAlternativesInBrowser(t *testing.T) {
	t.Parallel()
	d := &driver{t: t, out: browsertest.ArtifactDir(t, "")}
	browser := d.newBrowser("login alternatives")
	gw := &smsGateway{codes: map[string][]string{}}
	hook := httptest.NewServer(gw)
	t.Cleanup(hook.Close)
	st, _ := startStackWith(t, "", map[string]string{"BINDERY_OTP_WEBHOOK": hook.URL, "BINDERY_OTP_WEBHOOK_SECRET": "sms-gateway-secret-0123456789"})
	r := newRP(t, st.URL)
	const secret = "wiki-secret-0123456789abcdef"
	api(t, "PUT", st.URL+"/v1/oidc/clients/wiki", "dev", map[string]any{"name": "Team wiki", "app": "demo", "type": "confidential", "secret": secret, "redirect_uris": []string{r.srv.URL + "/callback"}})
	r.add("wiki", secret)
	const phone = "+8613800138001"
	grace := api(t, "POST", st.URL+"/v1/accounts", "dev", map[string]any{"username": "grace", "password": "correct horse battery", "display_name": "Grace", "phone": phone})["id"].(string)

	d.step(browser, "open the web app with a login_hint", 20*time.Second, chromedp.Navigate(r.srv.URL+"/login/wiki?login_hint=grace"))
	d.loginPageQR(browser, st, "")
	d.wait(browser, "password form prefilled", `document.getElementById('pw-username').value === 'grace' && document.getElementById('alt-password').open`, 10*time.Second)
	d.step(browser, "open the code form too", 10*time.Second, chromedp.Click(chromedp.CSS("#alt-otp summary")))
	d.wait(browser, "both alternatives shown", `document.getElementById('alt-otp').open && document.getElementById('otp-send-form').offsetParent !== null`, 10*time.Second)
	shot(t, browser, d.out, "sso-login-alternatives")

	d.step(browser, "a wrong password", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#pw-password"), "not the password"), chromedp.Click(chromedp.CSS("#pw-submit")))
	d.wait(browser, "the page says it was wrong", `(() => { const e = document.getElementById('pw-error'); return !e.hidden && e.textContent.includes('Wrong username or password'); })()`, 20*time.Second)
	if r.count() != 0 {
		t.Fatalf("a wrong password reached the web app: %+v", r.last())
	}
	d.step(browser, "the right password", 30*time.Second,
		chromedp.SendKeys(chromedp.CSS("#pw-password"), "correct horse battery"), chromedp.Click(chromedp.CSS("#pw-submit")),
		chromedp.WaitVisible(chromedp.CSS("#signed-in, #rp-error")))
	res := r.last()
	if res.Error != "" || res.Subject != grace || res.Name != "Grace" || amrClaim(t, res.IDToken) != "pwd" {
		t.Fatalf("password sign-in: %+v (amr %s)", res, amrClaim(t, res.IDToken))
	}

	// The browser is signed in; prompt=login asks again, and a text
	// message's code answers.
	d.step(browser, "sign in again", 20*time.Second, chromedp.Navigate(r.srv.URL+"/login/wiki?prompt=login"))
	d.loginPageQR(browser, st, "")
	d.step(browser, "ask for a code", 20*time.Second,
		chromedp.Click(chromedp.CSS("#alt-otp summary")),
		chromedp.SendKeys(chromedp.CSS("#otp-to"), phone), chromedp.Click(chromedp.CSS("#otp-send")),
		chromedp.WaitVisible(chromedp.CSS("#otp-code")))
	var code string
	testenv.Eventually(t, 20*time.Second, func() bool {
		if c := gw.sent(phone); len(c) == 1 {
			code = c[0]
		}
		return code != ""
	})
	d.wait(browser, "the page says a code is on its way", `document.getElementById('otp-status').textContent.includes('on its way')`, 10*time.Second)
	d.step(browser, "type the code", 30*time.Second,
		chromedp.SendKeys(chromedp.CSS("#otp-code"), code), chromedp.Click(chromedp.CSS("#otp-verify")),
		chromedp.WaitVisible(chromedp.CSS("#signed-in, #rp-error")))
	res = r.last()
	if r.count() != 2 || res.Error != "" || res.Subject != grace || amrClaim(t, res.IDToken) != "otp,sms" {
		t.Fatalf("code sign-in: %+v (amr %s)", res, amrClaim(t, res.IDToken))
	}
	if !strings.Contains(fmt.Sprint(gw.sent(phone)), code) || len(gw.sent(phone)) != 1 {
		t.Fatalf("codes sent: %v", gw.sent(phone))
	}
	// No script error: the wrong password's 401 and the web app's missing
	// favicon are logged as failed loads; nothing else.
	for _, e := range d.errs.list() {
		if !strings.Contains(e, "Failed to load resource") {
			t.Errorf("page error: %s", e)
		}
	}
}
