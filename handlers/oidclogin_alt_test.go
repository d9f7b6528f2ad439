package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/bindery/bindery/domain/authorization"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/internal/adapters/verify"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// altEnv is a bindery with an app, a web app registered as an OIDC client
// of it, and the SMS gateway that captures codes.
type altEnv struct {
	*loginEnv
	conf *oauth2.Config
}

const altRedirect = "http://127.0.0.1/wiki/cb"

func startAlt(t *testing.T) *altEnv {
	t.Helper()
	e := startLogin(t)
	e.wechatApp("shop", "", nil)
	r := e.Admin("PUT", "/v1/oidc/clients/wiki", map[string]any{"name": "Wiki", "app": "shop", "type": "confidential", "secret": "wiki-secret-0123456789", "redirect_uris": []string{altRedirect}})
	if r.Status/100 != 2 {
		t.Fatalf("register client: %d %s", r.Status, r.Body)
	}
	return &altEnv{loginEnv: e, conf: &oauth2.Config{
		ClientID: "wiki", ClientSecret: "wiki-secret-0123456789", RedirectURL: altRedirect, Scopes: []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: e.URL + "/oauth2/authorize", TokenURL: e.URL + "/oauth2/token"},
	}}
}

// altPage is one browser on the hosted login page of a fresh request.
type altPage struct {
	e        *altEnv
	b        *testenv.Browser
	id       string
	verifier string
	body     string
}

func (e *altEnv) open(extra ...oauth2.AuthCodeOption) *altPage {
	e.t.Helper()
	p := &altPage{e: e, b: e.NewBrowser(), verifier: oauth2.GenerateVerifier()}
	p.b.Stop = "/wiki/cb"
	page := p.b.Get(e.conf.AuthCodeURL("st4te", append(extra, oauth2.S256ChallengeOption(p.verifier))...))
	p.id = page.URL.Query().Get("id")
	if page.Status != http.StatusOK || page.URL.Path != "/oidc/login" || p.id == "" {
		e.t.Fatalf("not the login page: %d %s", page.Status, page.URL)
	}
	p.body = page.Body
	return p
}

// call posts a JSON call of the page's script and answers status and body.
func (p *altPage) call(path string, body any) (int, map[string]any) {
	p.e.t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", p.e.URL+"/oidc/login/"+path+"?id="+url.QueryEscape(p.id), bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.b.C.Do(req)
	if err != nil {
		p.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode >= 400 && !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
		p.e.t.Fatalf("POST %s: %d is not a problem: %s", path, resp.StatusCode, raw)
	}
	if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
		p.e.t.Fatalf("POST %s: 429 without Retry-After", path)
	}
	return resp.StatusCode, out
}

// finish follows a sign-in's redirect to the web app's code and exchanges
// it; it answers the id_token's claims.
func (p *altPage) finish(redirect any) map[string]any {
	p.e.t.Helper()
	to, _ := redirect.(string)
	back := p.b.Get(to)
	loc, err := url.Parse(back.Header.Get("Location"))
	if back.Status/100 != 3 || err != nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st4te" {
		p.e.t.Fatalf("after the sign-in the browser landed at %d %s (Location %q)", back.Status, back.URL, back.Header.Get("Location"))
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, p.e.Client)
	tok, err := p.e.conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		p.e.t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	parts := strings.Split(raw, ".")
	var claims map[string]any
	if len(parts) != 3 {
		p.e.t.Fatalf("no id_token: %q", raw)
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(b, &claims); err != nil {
		p.e.t.Fatal(err)
	}
	return claims
}

// noneHolds fails when a stored message (events, claims) holds one of the
// values in plain, or an event type is missing.
func noneHolds(t *testing.T, e *loginEnv, types []string, values ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range allRecords(t, e) {
		seen[m.Envelope.Type] = true
		for _, v := range values {
			if strings.Contains(string(m.Data), v) {
				t.Errorf("%s holds %s: %s", m.Subject, v, m.Data)
			}
		}
	}
	for _, typ := range types {
		if !seen["bindery."+typ+".v1"] {
			t.Errorf("no %s event was stored", typ)
		}
	}
}

func amrOf(claims map[string]any) string {
	var out []string
	list, _ := claims["amr"].([]any)
	for _, v := range list {
		out = append(out, v.(string))
	}
	return strings.Join(out, ",")
}

// The hosted login page offers a password and one-time codes besides the
// QR code. A right password signs the browser in (session cookie, then
// the code, amr pwd, no second sign-in for the next visit); unknown user,
// wrong password and an account without a password get one answer, 401
// invalid_credentials; a request takes ten failures, then
// too_many_attempts; missing fields and non-JSON bodies are problems.
func TestLoginPagePassword(t *testing.T) {
	e := startAlt(t)
	ada := e.account(map[string]any{"username": "ada", "password": "correct horse battery", "display_name": "Ada", "email": "ada@example.com"})
	e.account(map[string]any{"username": "nopass", "display_name": "No password"})

	p := e.open()
	for _, want := range []string{`id="password-form"`, `id="otp-send-form"`, `data-qr-id="`, `value="sms" checked`} {
		if !strings.Contains(p.body, want) {
			t.Fatalf("the page lacks %s:\n%s", want, p.body)
		}
	}
	var answers []string
	for _, try := range []map[string]any{
		{"username": "ada", "password": "wrong"},
		{"username": "nobody", "password": "wrong"},
		{"username": "nopass", "password": "anything"},
		{"username": "ADA@example.com", "password": "wrong"},
	} {
		status, prob := p.call("password", try)
		if status != http.StatusUnauthorized || prob["code"] != "invalid_credentials" {
			t.Fatalf("%v: %d %v, want 401 invalid_credentials", try, status, prob)
		}
		answers = append(answers, prob["detail"].(string))
	}
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Fatalf("the answers differ: %q", answers)
		}
	}
	for name, body := range map[string]any{"no password": map[string]any{"username": "ada"}, "unknown field": map[string]any{"username": "ada", "password": "x", "extra": 1}} {
		if status, prob := p.call("password", body); status != http.StatusBadRequest || prob["code"] != "validation_failed" {
			t.Errorf("%s: %d %v", name, status, prob)
		}
	}
	req, _ := http.NewRequest("POST", e.URL+"/oidc/login/password?id="+p.id, strings.NewReader("username=ada&password=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := p.b.C.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("a form post: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// An unknown or malformed request id is a problem, for each call.
	for _, id := range []string{"3f0c6a52-8c1e-4d8e-9b7a-2a1f0c3d4e5f", "not-an-id", ""} {
		other := &altPage{e: e, b: p.b, id: id}
		for path, body := range map[string]any{
			"password": map[string]any{"username": "ada", "password": "x"}, "otp/send": map[string]any{"channel": "sms", "to": "+8613800138000"},
			"otp/verify": map[string]any{"to": "+8613800138000", "otp": "123456"},
		} {
			if status, prob := other.call(path, body); status != http.StatusNotFound || prob["code"] != "authorization_not_found" {
				t.Errorf("%s with request id %q: %d %v", path, id, status, prob)
			}
		}
	}

	// By e-mail address too (case ignored), and the request is granted.
	status, out := p.call("password", map[string]any{"username": "Ada@Example.com", "password": "correct horse battery"})
	if status != http.StatusOK || out["redirect"] == nil {
		t.Fatalf("right password: %d %v", status, out)
	}
	claims := p.finish(out["redirect"])
	if claims["sub"] != ada || amrOf(claims) != "pwd" || claims["name"] != "Ada" {
		t.Fatalf("id_token claims %v, want sub %s, amr pwd", claims, ada)
	}
	// The request is over: another try on it is refused.
	if status, prob := p.call("password", map[string]any{"username": "ada", "password": "correct horse battery"}); status != http.StatusConflict || prob["code"] != "authorization_finished" {
		t.Fatalf("password on a finished request: %d %v", status, prob)
	}
	// The browser is signed in: the next request needs no sign-in.
	back := p.b.Get(e.conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(p.verifier)))
	if back.Status/100 != 3 || !strings.Contains(back.Header.Get("Location"), "code=") {
		t.Fatalf("SSO after a password sign-in: %d %s", back.Status, back.Header.Get("Location"))
	}

	// Every step is an event; none holds a password (or who was tried).
	noneHolds(t, e.loginEnv, []string{"authorization_sign_in_failed", "login_failed", "authorization_granted", "browser_session_started"},
		"correct horse battery", `"wrong"`, "nobody", "Ada@Example.com", "ADA@example.com")

	// Ten failures end a request, whatever the user typed.
	q := e.open()
	for i := range authorization.MaxSignInFailures {
		user := "ada"
		if i%2 == 1 {
			user = "nobody"
		}
		if status, _ := q.call("password", map[string]any{"username": user, "password": "wrong"}); status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, status)
		}
	}
	for _, user := range []string{"ada", "nobody"} {
		if status, prob := q.call("password", map[string]any{"username": user, "password": "correct horse battery"}); status != http.StatusTooManyRequests || prob["code"] != "too_many_attempts" {
			t.Fatalf("after %d failures (%s): %d %v, want 429 too_many_attempts", authorization.MaxSignInFailures, user, status, prob)
		}
	}
}

// An account's password guard counts the page's failures as it counts
// binds': past dlogin.MaxPasswordFailures within the hour, across any
// number of requests, even the right password is refused — and an
// identifier nobody holds is limited just the same, so the limit does not
// tell who exists.
func TestLoginPagePasswordGuessLimit(t *testing.T) {
	e := startAlt(t)
	e.account(map[string]any{"username": "ada", "password": "correct horse battery"})
	for _, user := range []string{"ada", "nobody"} {
		var p *altPage
		for i := range dlogin.MaxPasswordFailures {
			if i%authorization.MaxSignInFailures == 0 {
				p = e.open()
			}
			if status, prob := p.call("password", map[string]any{"username": user, "password": "wrong"}); status != http.StatusUnauthorized {
				t.Fatalf("%s failure %d: %d %v", user, i, status, prob)
			}
		}
		status, prob := e.open().call("password", map[string]any{"username": user, "password": "correct horse battery"})
		if status != http.StatusTooManyRequests || prob["code"] != "too_many_attempts" {
			t.Fatalf("%s after %d failures: %d %v, want 429 too_many_attempts", user, dlogin.MaxPasswordFailures, status, prob)
		}
	}
}

// codes are the one-time codes the gateway got for an address.
func (h *otpHook) sent(to string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.codes[to]...)
}

// The page's one-time code: sending answers 202 the same for an address
// an account holds and for one nobody holds, and only the first gets a
// code; a wrong code, a code for another address and any code for the
// unheld address get one answer, invalid_otp; the right code signs in
// (amr otp, sms). Five wrong entries use a code up; a request sends one
// code a minute.
func TestLoginPageOneTimeCode(t *testing.T) {
	e := startAlt(t)
	const phone, stranger = "+8613800138000", "+8613900139000"
	ada := e.account(map[string]any{"username": "ada", "display_name": "Ada", "phone": phone})

	p := e.open()
	status, held := p.call("otp/send", map[string]any{"channel": "sms", "to": phone})
	if status != http.StatusAccepted || held["expires_in"] != float64(300) {
		t.Fatalf("send to a held address: %d %v", status, held)
	}
	q := e.open()
	status, unheld := q.call("otp/send", map[string]any{"channel": "sms", "to": stranger})
	if status != http.StatusAccepted || len(unheld) != len(held) || unheld["expires_in"] != held["expires_in"] {
		t.Fatalf("send to an unheld address: %d %v, want the same as %v", status, unheld, held)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return len(e.hook.sent(phone)) == 1 })
	code := e.hook.sent(phone)[0]
	if len(e.hook.sent(stranger)) != 0 {
		t.Fatal("a code went to an address no account holds")
	}
	// Once a minute per request, whoever holds the address.
	for _, pg := range []*altPage{p, q} {
		if status, prob := pg.call("otp/send", map[string]any{"channel": "sms", "to": phone}); status != http.StatusTooManyRequests || prob["code"] != "rate_limited" {
			t.Fatalf("a second send within the minute: %d %v", status, prob)
		}
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	var answers []string
	for name, try := range map[string]*altPage{"wrong code": p, "unheld address": q} {
		to := phone
		if try == q {
			to = stranger
		}
		status, prob := try.call("otp/verify", map[string]any{"to": to, "otp": wrong})
		if status != http.StatusBadRequest || prob["code"] != "invalid_otp" {
			t.Fatalf("%s: %d %v, want 400 invalid_otp", name, status, prob)
		}
		answers = append(answers, prob["detail"].(string))
	}
	if answers[0] != answers[1] {
		t.Fatalf("the answers differ: %q", answers)
	}
	// Another request's code does not open this one.
	if status, prob := q.call("otp/verify", map[string]any{"to": phone, "otp": code}); status != http.StatusBadRequest || prob["code"] != "invalid_otp" {
		t.Fatalf("p's code on q: %d %v", status, prob)
	}
	status, out := p.call("otp/verify", map[string]any{"to": phone, "otp": code})
	if status != http.StatusOK || out["redirect"] == nil {
		t.Fatalf("right code: %d %v", status, out)
	}
	claims := p.finish(out["redirect"])
	if claims["sub"] != ada || amrOf(claims) != "otp,sms" {
		t.Fatalf("id_token claims %v, want sub %s and amr otp,sms", claims, ada)
	}

	// Every step is an event; none holds a code or an address in plain.
	noneHolds(t, e.loginEnv, []string{"authorization_otp_requested", "otp_sent", "otp_failed", "otp_verified", "authorization_sign_in_failed", "authorization_granted"},
		`"`+code+`"`, phone, stranger, "+86138****8000", "+86139****9000")

	// Five wrong entries use a code up: the right one no longer works.
	r := e.open()
	e.clock.Advance(dlogin.OTPSendGap) // the address's own gap since p's code
	if status, prob := r.call("otp/send", map[string]any{"channel": "sms", "to": phone}); status != http.StatusAccepted {
		t.Fatalf("send: %d %v", status, prob)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return len(e.hook.sent(phone)) == 2 })
	code = e.hook.sent(phone)[1]
	wrong = "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := range dlogin.OTPMaxTries {
		if status, _ := r.call("otp/verify", map[string]any{"to": phone, "otp": wrong}); status != http.StatusBadRequest {
			t.Fatalf("wrong entry %d: %d", i, status)
		}
	}
	if status, prob := r.call("otp/verify", map[string]any{"to": phone, "otp": code}); status != http.StatusBadRequest || prob["code"] != "invalid_otp" {
		t.Fatalf("the right code after %d wrong ones: %d %v", dlogin.OTPMaxTries, status, prob)
	}
	for name, body := range map[string]map[string]any{
		"bad channel": {"channel": "fax", "to": phone}, "bad phone": {"channel": "sms", "to": "12"}, "no to": {"channel": "sms"},
	} {
		if status, prob := r.call("otp/send", body); status != http.StatusBadRequest || prob["code"] != "validation_failed" {
			t.Errorf("%s: %d %v", name, status, prob)
		}
	}
}

// login_hint prefills the identifier fields: a username the password's,
// a phone number (or e-mail address) the code's too, with its channel
// chosen; an account id names the subject and prefills nothing.
func TestLoginPageLoginHint(t *testing.T) {
	e := startAlt(t)
	ada := e.account(map[string]any{"username": "ada", "display_name": "Ada"})
	for hint, want := range map[string][]string{
		"ada":                  {`id="pw-username" name="username" autocomplete="username" value="ada"`, `id="otp-to" name="to" autocomplete="tel email" value=""`, `<details id="alt-password" open>`},
		"+8613800138000":       {`id="pw-username" name="username" autocomplete="username" value="&#43;8613800138000"`, `id="otp-to" name="to" autocomplete="tel email" value="&#43;8613800138000"`, `<details id="alt-otp" open>`, `value="sms" checked`},
		"ada@example.com":      {`id="otp-to" name="to" autocomplete="tel email" value="ada@example.com"`, `value="email" checked`},
		ada:                    {`id="pw-username" name="username" autocomplete="username" value=""`},
		`"><script>x</script>`: {`value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"`},
	} {
		p := e.open(oauth2.SetAuthURLParam("login_hint", hint))
		for _, w := range want {
			if !strings.Contains(p.body, w) {
				t.Errorf("login_hint %q: the page lacks %s", hint, w)
			}
		}
	}
	// The hint is personal: authorization_requested holds it sealed.
	noneHolds(t, e.loginEnv, []string{"authorization_requested"}, "8613800138000", "ada@example.com", "<script>")
}

// A web app of an app whose accounts the customer's API verifies signs in
// with a password the customer's API accepts (the account is upserted by
// its external_id, as a password bind does); a refusal is
// invalid_credentials. A disabled account does not sign in with its right
// password (account_disabled), nor get a code (the send answers the same,
// nothing goes out). An e-mailed code signs in with amr otp.
func TestLoginPageVerifySourceDisabledAndEmail(t *testing.T) {
	e := startAlt(t)
	const vsecret = "customer-api-secret-0123"
	customer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var q map[string]string
		_ = json.Unmarshal(body, &q)
		if r.Header.Get("X-Bindery-Signature") != verify.Sign(vsecret, body) || q["username"] != "erin" || q["password"] != "erin-erp-password" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"external_id": "E-42", "display_name": "Erin"})
	}))
	t.Cleanup(customer.Close)
	e.wechatApp("erp", "", map[string]any{"account_source": map[string]any{"mode": "verify", "url": customer.URL + "/verify", "secret": vsecret}})
	if r := e.Admin("PUT", "/v1/oidc/clients/erp-web", map[string]any{"name": "ERP", "app": "erp", "type": "confidential", "secret": "erp-secret-0123456789", "redirect_uris": []string{altRedirect}}); r.Status/100 != 2 {
		t.Fatalf("register client: %d %s", r.Status, r.Body)
	}
	erpConf := *e.conf
	erpConf.ClientID, erpConf.ClientSecret = "erp-web", "erp-secret-0123456789"
	erp := &altEnv{loginEnv: e.loginEnv, conf: &erpConf}
	p := erp.open()
	if status, prob := p.call("password", map[string]any{"username": "erin", "password": "wrong"}); status != http.StatusUnauthorized || prob["code"] != "invalid_credentials" {
		t.Fatalf("refused by the customer's API: %d %v", status, prob)
	}
	status, out := p.call("password", map[string]any{"username": "erin", "password": "erin-erp-password"})
	if status != http.StatusOK {
		t.Fatalf("accepted by the customer's API: %d %v", status, out)
	}
	if claims := p.finish(out["redirect"]); claims["name"] != "Erin" || amrOf(claims) != "pwd" {
		t.Fatalf("verified sign-in: %v", claims)
	}

	// Disabled: the right password is refused, no code goes out.
	const mail = "dora@example.com"
	dora := e.account(map[string]any{"username": "dora", "password": "dora-password-1", "email": mail})
	if r := e.Admin("POST", "/v1/accounts/"+dora+"/disable", nil); r.Status/100 != 2 {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	q := e.open()
	if status, prob := q.call("password", map[string]any{"username": "dora", "password": "dora-password-1"}); status != http.StatusForbidden || prob["code"] != "account_disabled" {
		t.Fatalf("a disabled account's right password: %d %v", status, prob)
	}
	if status, _ := q.call("otp/send", map[string]any{"channel": "email", "to": mail}); status != http.StatusAccepted {
		t.Fatalf("send to a disabled account's address: %d", status)
	}
	// An enabled account's e-mail gets its code (after dora's would have).
	if r := e.Admin("POST", "/v1/accounts/"+dora+"/enable", nil); r.Status/100 != 2 {
		t.Fatalf("enable: %d %s", r.Status, r.Body)
	}
	s := e.open()
	if status, _ := s.call("otp/send", map[string]any{"channel": "email", "to": mail}); status != http.StatusAccepted {
		t.Fatalf("send: %d", status)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return len(e.hook.sent(mail)) > 0 })
	if sent := e.hook.sent(mail); len(sent) != 1 {
		t.Fatalf("codes to %s: %v, want one (none while disabled)", mail, sent)
	}
	status, out = s.call("otp/verify", map[string]any{"to": mail, "otp": e.hook.sent(mail)[0]})
	if status != http.StatusOK {
		t.Fatalf("e-mailed code: %d %v", status, out)
	}
	if claims := s.finish(out["redirect"]); claims["sub"] != dora || amrOf(claims) != "otp" {
		t.Fatalf("e-mail sign-in: %v", claims)
	}
}
