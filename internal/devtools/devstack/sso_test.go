package devstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bindery/bindery/internal/devtools/browsertest"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/bindery/bindery/internal/devtools/demo"
)

// rp is a relying party nobody special wrote: go-oidc discovers Bindery and
// verifies id_tokens, x/oauth2 runs the code flow with PKCE S256. /login/
// <client> starts a sign-in, /callback finishes it and shows who signed in.
type rp struct {
	t        *testing.T
	srv      *httptest.Server
	provider *oidc.Provider
	confs    map[string]*oauth2.Config

	mu      sync.Mutex
	pending map[string]flow // by state
	results []rpResult
}

type flow struct {
	client, verifier, nonce string
}

// rpResult is what one callback found.
type rpResult struct {
	Client, Error     string
	Subject, Name     string
	AccessToken       string
	IDToken, SID      string // for logout: the id_token_hint and its sid
	WrongVerifier     error  // the exchange with a wrong PKCE verifier
	SecondUse         error  // the exchange of the same code again
	UserinfoSubject   string
	AccessTokenClaims map[string]any
}

func newRP(t *testing.T, issuer string) *rp {
	r := &rp{t: t, confs: map[string]*oauth2.Config{}, pending: map[string]flow{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	r.provider = p
	return r
}

func (r *rp) add(client, secret string) {
	c := &oauth2.Config{
		ClientID: client, ClientSecret: secret, Endpoint: r.provider.Endpoint(),
		RedirectURL: r.srv.URL + "/callback", Scopes: []string{oidc.ScopeOpenID, "profile"},
	}
	if secret == "" {
		c.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	} else {
		c.Endpoint.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic
	}
	r.confs[client] = c
}

func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (r *rp) serve(w http.ResponseWriter, req *http.Request) {
	switch {
	case strings.HasPrefix(req.URL.Path, "/login/"):
		client := strings.TrimPrefix(req.URL.Path, "/login/")
		conf := r.confs[client]
		f := flow{client: client, verifier: oauth2.GenerateVerifier(), nonce: random()}
		state := random()
		r.mu.Lock()
		r.pending[state] = f
		r.mu.Unlock()
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce)}
		for _, name := range []string{"prompt", "login_hint"} {
			if p := req.URL.Query().Get(name); p != "" {
				opts = append(opts, oauth2.SetAuthURLParam(name, p))
			}
		}
		http.Redirect(w, req, conf.AuthCodeURL(state, opts...), http.StatusFound)
	case req.URL.Path == "/callback":
		res := r.callback(req)
		r.mu.Lock()
		r.results = append(r.results, res)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if res.Error != "" {
			fmt.Fprintf(w, `<!doctype html><p id="rp-error">%s</p>`, html.EscapeString(res.Error))
			return
		}
		fmt.Fprintf(w, `<!doctype html><h1>Web app</h1><p id="signed-in" data-sub="%s">Signed in as %s</p>`, html.EscapeString(res.Subject), html.EscapeString(res.Name))
	case req.URL.Path == "/logged-out":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><p id="logged-out" data-state="%s">Signed out</p>`, html.EscapeString(req.URL.Query().Get("state")))
	default:
		http.NotFound(w, req)
	}
}

func (r *rp) callback(req *http.Request) rpResult {
	q := req.URL.Query()
	r.mu.Lock()
	f, ok := r.pending[q.Get("state")]
	delete(r.pending, q.Get("state"))
	r.mu.Unlock()
	if !ok {
		return rpResult{Error: "unknown state"}
	}
	res := rpResult{Client: f.client}
	if e := q.Get("error"); e != "" {
		res.Error = e
		return res
	}
	conf := r.confs[f.client]
	ctx, cancel := context.WithTimeout(req.Context(), 15*time.Second)
	defer cancel()
	code := q.Get("code")
	if conf.ClientSecret == "" {
		_, res.WrongVerifier = conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	}
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		res.Error = "exchange: " + err.Error()
		return res
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.provider.Verifier(&oidc.Config{ClientID: f.client}).Verify(ctx, raw)
	if err != nil {
		res.Error = "id_token: " + err.Error()
		return res
	}
	var claims struct {
		Name  string `json:"name"`
		Nonce string `json:"nonce"`
		SID   string `json:"sid"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Nonce != f.nonce || claims.SID == "" {
		res.Error = fmt.Sprintf("id_token claims %+v (%v), want nonce %s and a sid", claims, err, f.nonce)
		return res
	}
	res.Subject, res.Name, res.AccessToken = idt.Subject, claims.Name, tok.AccessToken
	res.IDToken, res.SID = raw, claims.SID
	if ui, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		res.UserinfoSubject = ui.Subject
	} else {
		res.Error = "userinfo: " + err.Error()
	}
	// A second use of the code fails, and revokes what the first issued
	// (RFC 6749 §4.1.2): userinfo refuses the access token from then on.
	_, res.SecondUse = conf.Exchange(ctx, code, oauth2.VerifierOption(f.verifier))
	if _, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		res.Error = "userinfo answers for the access token of a code used twice"
	}
	if parts := strings.Split(tok.AccessToken, "."); len(parts) == 3 {
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(b, &res.AccessTokenClaims)
	}
	return res
}

func (r *rp) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.results)
}

func (r *rp) last() rpResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.results) == 0 {
		return rpResult{}
	}
	return r.results[len(r.results)-1]
}

// api calls Bindery's (or the simulator's) JSON API.
func api(t testing.TB, method, url, bearer string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, data)
	}
	return out
}

// miniProgramUser signs a new simulated WeChat user in to the demo app
// (registering an account) and answers its id_token and account id.
func miniProgramUser(t testing.TB, st *Stack, name string) (string, string) {
	t.Helper()
	user := api(t, "POST", st.SimURL+"/sim/users", "", map[string]any{"nickname": name})["user"]
	code := api(t, "POST", st.SimURL+"/sim/login", "", map[string]any{"appid": demo.WeChatAppID, "user": user})["code"]
	out := api(t, "POST", st.URL+"/v1/apps/"+demo.App+"/login/code", "", map[string]any{"code": code})
	reg := api(t, "POST", st.URL+"/v1/register", "", map[string]any{"bind_ticket": out["bind_ticket"], "display_name": name})
	idt, _ := reg["id_token"].(string)
	acc, _ := reg["account_id"].(string)
	if idt == "" || acc == "" {
		t.Fatalf("register answered %v", reg)
	}
	return idt, acc
}

// loginPageQR waits for the hosted login page's QR code and answers its id.
func (d *driver) loginPageQR(ctx context.Context, st *Stack, not string) string {
	d.t.Helper()
	d.wait(ctx, "login page QR shown", `(() => { const i = document.getElementById('qr'); return i && i.complete && i.naturalWidth > 0 && i.dataset.qrId && i.dataset.qrId !== '`+not+`'; })()`, 20*time.Second)
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	attr, err := chromedp.Run(vctx, chromedp.AttributeValue(chromedp.CSS("#qr"), "data-qr-id"))
	id := attr.Value
	if err != nil || !qrIDPattern.MatchString(id) {
		d.t.Fatalf("QR id %q: %v", id, err)
	}
	if u := d.text(ctx, "#qr-url"); u != st.URL+"/qr/"+id {
		d.t.Fatalf("the page prints QR URL %q for id %s", u, id)
	}
	return id
}

// A web app signs a browser in through Bindery with a stock OIDC client:
// the hosted login page shows a QR code, the mini-program user scans and
// confirms it, and the browser lands back at the web app signed in — for
// a confidential and for a public client. A wrong PKCE verifier and a
// second use of a code get invalid_grant; a cancel comes back as
// access_denied, prompt=none without a browser session as login_required;
// a signed-in browser gets codes without a scan (SSO; prompt=login asks
// again); an unregistered redirect
// URI or client gets Bindery's error page, not a redirect.
func TestSSOInBrowser(t *testing.T) {
	t.Parallel()
	d := &driver{t: t, out: browsertest.ArtifactDir(t, "")}
	browser := d.newBrowser("web app")
	st, _ := startStack(t, "")
	r := newRP(t, st.URL)
	const secret = "wiki-secret-0123456789abcdef"
	api(t, "PUT", st.URL+"/v1/oidc/clients/wiki", "dev", map[string]any{"name": "Team wiki", "app": demo.App, "type": "confidential", "secret": secret, "redirect_uris": []string{r.srv.URL + "/callback"}})
	api(t, "PUT", st.URL+"/v1/oidc/clients/spa", "dev", map[string]any{"name": "Dashboard", "app": demo.App, "type": "public", "redirect_uris": []string{r.srv.URL + "/callback"}})
	r.add("wiki", secret)
	r.add("spa", "")
	idToken, accountID := miniProgramUser(t, st, "Ada")

	// prompt=none before the browser signed in: login_required.
	d.step(browser, "prompt=none", 20*time.Second, chromedp.Navigate(r.srv.URL+"/login/wiki?prompt=none"), chromedp.WaitVisible(chromedp.CSS("#rp-error")))
	if got := d.text(browser, "#rp-error"); got != "login_required" {
		t.Fatalf("prompt=none got %q", got)
	}

	signIn := func(client, shotName string) rpResult {
		t.Helper()
		path := "/login/" + client
		if shotName == "" {
			path += "?prompt=login" // the browser is signed in by then: ask for the QR again
		}
		d.step(browser, "open the web app ("+client+")", 20*time.Second, chromedp.Navigate(r.srv.URL+path))
		qr := d.loginPageQR(browser, st, "")
		if shotName != "" {
			shot(t, browser, d.out, shotName)
		}
		scan := api(t, "POST", st.URL+"/v1/qr/"+qr+"/scan", idToken, nil)
		if c, _ := scan["client"].(map[string]any); c == nil || c["client_id"] != client {
			t.Errorf("scan answer names client %v, want %s", scan["client"], client)
		}
		d.wait(browser, "page shows the scan", `document.getElementById('status').textContent.includes('Ada')`, 20*time.Second)
		api(t, "POST", st.URL+"/v1/qr/"+qr+"/confirm", idToken, nil)
		d.step(browser, "back at the web app ("+client+")", 30*time.Second, chromedp.WaitVisible(chromedp.CSS("#signed-in, #rp-error")))
		return r.last()
	}

	for _, client := range []string{"wiki", "spa"} {
		name := ""
		if client == "wiki" {
			name = "sso-login-page"
		}
		res := signIn(client, name)
		if res.Error != "" || res.Subject != accountID || res.Name != "Ada" || res.UserinfoSubject != accountID {
			t.Fatalf("%s: %+v", client, res)
		}
		if !isInvalidGrant(res.SecondUse) {
			t.Errorf("%s: a second use of the code: %v, want invalid_grant", client, res.SecondUse)
		}
		if client == "spa" && !isInvalidGrant(res.WrongVerifier) {
			t.Errorf("spa: a wrong PKCE verifier: %v, want invalid_grant", res.WrongVerifier)
		}
		c := res.AccessTokenClaims
		if c["client_id"] != client || c["sub"] != accountID || c["iss"] != st.URL || c["jti"] == nil || c["exp"] == nil || !strings.Contains(fmt.Sprint(c["scope"]), "openid") {
			t.Errorf("%s: access token claims %v", client, c)
		}
	}
	shot(t, browser, d.out, "sso-web-app-signed-in")

	// Single sign-on: the browser is signed in, so another visit (and
	// prompt=none) gets a code without a scan.
	for _, path := range []string{"/login/wiki", "/login/spa?prompt=none"} {
		before := r.count()
		d.step(browser, "SSO "+path, 20*time.Second, chromedp.Navigate(r.srv.URL+path), chromedp.WaitVisible(chromedp.CSS("#signed-in, #rp-error")))
		res := r.last()
		if r.count() != before+1 || res.Error != "" || res.Subject != accountID {
			t.Fatalf("SSO %s: %+v", path, res)
		}
	}

	// A web app's access token is no mini-program user's token: it cannot
	// scan a QR login.
	pc := api(t, "POST", st.URL+"/v1/apps/"+demo.App+"/qr", "", nil)
	req, _ := http.NewRequest("POST", st.URL+"/v1/qr/"+pc["qr_id"].(string)+"/scan", nil)
	req.Header.Set("Authorization", "Bearer "+r.last().AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("scan with a web app's access token: %d, want 401", resp.StatusCode)
	}

	// Cancel on the phone: the web app gets access_denied.
	d.step(browser, "open the web app again", 20*time.Second, chromedp.Navigate(r.srv.URL+"/login/wiki?prompt=login"))
	qr := d.loginPageQR(browser, st, "")
	api(t, "POST", st.URL+"/v1/qr/"+qr+"/scan", idToken, nil)
	api(t, "POST", st.URL+"/v1/qr/"+qr+"/cancel", idToken, nil)
	d.step(browser, "back at the web app after cancel", 30*time.Second, chromedp.WaitVisible(chromedp.CSS("#rp-error")))
	if got := d.text(browser, "#rp-error"); got != "access_denied" {
		t.Fatalf("after cancel the web app got %q", got)
	}

	// A redirect URI nobody registered, or a client nobody registered:
	// Bindery's error page, and the browser stays at Bindery.
	for name, q := range map[string]url.Values{
		"unregistered redirect URI": {"client_id": {"wiki"}, "redirect_uri": {"http://127.0.0.1:9/steal"}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s"}},
		"unknown client":            {"client_id": {"nobody"}, "redirect_uri": {r.srv.URL + "/callback"}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s"}},
	} {
		d.step(browser, name, 20*time.Second, chromedp.Navigate(st.URL+"/oauth2/authorize?"+q.Encode()), chromedp.WaitVisible(chromedp.CSS("#bindery-error")))
		var loc string
		lctx, cancel := context.WithTimeout(browser, 5*time.Second)
		loc, err := chromedp.Run(lctx, chromedp.Location())
		cancel()
		if err != nil || !strings.HasPrefix(loc, st.URL+"/oauth2/authorize") {
			t.Fatalf("%s: the browser is at %q (%v)", name, loc, err)
		}
		if name == "unregistered redirect URI" {
			shot(t, browser, d.out, "sso-error-page")
		}
	}
	// No script error: the error pages answer 400 and the web app has no
	// favicon, which the browser logs as failed loads; nothing else.
	for _, e := range d.errs.list() {
		if !strings.Contains(e, "Failed to load resource") {
			t.Errorf("page error: %s", e)
		}
	}
}

func isInvalidGrant(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}
