package devstack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/bindery/bindery/internal/devtools/browsertest"
	"github.com/bindery/bindery/internal/devtools/demo"
)

// bcReceiver is a web app's backchannel_logout_uri: each path fails its
// first POST with 500, then takes them, keeping every logout_token it got.
type bcReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]string // by path: the logout_token of each POST
}

func newBCReceiver(t *testing.T) *bcReceiver {
	b := &bcReceiver{got: map[string][]string{}}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		b.mu.Lock()
		b.got[r.URL.Path] = append(b.got[r.URL.Path], r.PostForm.Get("logout_token"))
		first := len(b.got[r.URL.Path]) == 1
		b.mu.Unlock()
		if first {
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *bcReceiver) tokens(path string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got[path]...)
}

// auditEvents lists the event names of an aggregate (type/id) from the
// audit API.
func auditEvents(t *testing.T, st *Stack, aggregate string) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", st.URL+"/v1/audit/events?aggregate="+url.QueryEscape(aggregate), nil)
	req.Header.Set("Authorization", "Bearer dev")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var ev struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Type != "" {
			names = append(names, strings.TrimSuffix(strings.TrimPrefix(ev.Type, "bindery."), ".v1")+string(ev.Data))
		}
	}
	return names
}

// RP-initiated logout and back-channel logout: a browser signed in to two
// web apps (the second by SSO) logs out at the end-session endpoint with
// the id_token_hint; an unregistered post_logout_redirect_uri gets
// Bindery's error page and ends nothing; the registered one gets the
// browser back with its state, the browser session has ended
// (browser_session_ended, prompt=none answers login_required), and both
// apps receive a logout token that verifies against the JWKS — the first
// POST to each fails, the Watermill delivery retries it.
func TestLogoutInBrowser(t *testing.T) {
	t.Parallel()
	d := &driver{t: t, out: browsertest.ArtifactDir(t, "")}
	browser := d.newBrowser("logout")
	st, _ := startStackWith(t, "", map[string]string{"BINDERY_WEBHOOK_BACKOFF": "50ms"})
	r := newRP(t, st.URL)
	bc := newBCReceiver(t)
	const secret = "wiki-secret-0123456789abcdef"
	loggedOut := r.srv.URL + "/logged-out"
	api(t, "PUT", st.URL+"/v1/oidc/clients/wiki", "dev", map[string]any{"name": "Team wiki", "app": demo.App, "type": "confidential", "secret": secret,
		"redirect_uris": []string{r.srv.URL + "/callback"}, "post_logout_redirect_uris": []string{loggedOut}, "backchannel_logout_uri": bc.srv.URL + "/wiki"})
	api(t, "PUT", st.URL+"/v1/oidc/clients/spa", "dev", map[string]any{"name": "Dashboard", "app": demo.App, "type": "public",
		"redirect_uris": []string{r.srv.URL + "/callback"}, "backchannel_logout_uri": bc.srv.URL + "/spa"})
	r.add("wiki", secret)
	r.add("spa", "")
	idToken, accountID := miniProgramUser(t, st, "Ada")

	d.step(browser, "open the wiki", 20*time.Second, chromedp.Navigate(r.srv.URL+"/login/wiki"))
	qr := d.loginPageQR(browser, st, "")
	api(t, "POST", st.URL+"/v1/qr/"+qr+"/scan", idToken, nil)
	api(t, "POST", st.URL+"/v1/qr/"+qr+"/confirm", idToken, nil)
	d.step(browser, "signed in to the wiki", 30*time.Second, chromedp.WaitVisible(chromedp.CSS("#signed-in, #rp-error")))
	wiki := r.last()
	if wiki.Error != "" || wiki.Subject != accountID || wiki.SID == "" {
		t.Fatalf("wiki sign-in: %+v", wiki)
	}
	d.step(browser, "signed in to the dashboard by SSO", 20*time.Second, chromedp.Navigate(r.srv.URL+"/login/spa"), chromedp.WaitVisible(chromedp.CSS("#signed-in, #rp-error")))
	if spa := r.last(); spa.Error != "" || spa.Client != "spa" || spa.SID != wiki.SID {
		t.Fatalf("dashboard SSO: %+v (wiki sid %s)", spa, wiki.SID)
	}

	// login_hint naming another account: the session does not answer, the
	// QR page asks; naming this one, SSO goes on.
	_, bobID := miniProgramUser(t, st, "Bob")
	d.step(browser, "login_hint for another account", 20*time.Second, chromedp.Navigate(r.srv.URL+"/login/spa?login_hint="+bobID), chromedp.WaitVisible(chromedp.CSS("#qr")))
	d.step(browser, "login_hint for this account", 20*time.Second, chromedp.Navigate(r.srv.URL+"/login/spa?login_hint="+accountID), chromedp.WaitVisible(chromedp.CSS("#signed-in, #rp-error")))
	if res := r.last(); res.Error != "" || res.Subject != accountID {
		t.Fatalf("login_hint of the signed-in account: %+v", res)
	}

	endSession := func(postLogout string) string {
		q := url.Values{"id_token_hint": {wiki.IDToken}, "post_logout_redirect_uri": {postLogout}, "state": {"bye-123"}}
		return st.URL + "/oauth2/end_session?" + q.Encode()
	}
	// Not registered: Bindery's error page, the browser stays, nothing ends.
	d.step(browser, "logout to an unregistered URI", 20*time.Second, chromedp.Navigate(endSession("http://127.0.0.1:9/evil")), chromedp.WaitVisible(chromedp.CSS("#bindery-error")))
	lctx, cancel := context.WithTimeout(browser, 5*time.Second)
	loc, err := chromedp.Run(lctx, chromedp.Location())
	cancel()
	if err != nil || !strings.HasPrefix(loc, st.URL+"/oauth2/end_session") {
		t.Fatalf("after an unregistered post_logout_redirect_uri the browser is at %q (%v)", loc, err)
	}
	d.step(browser, "still signed in", 20*time.Second, chromedp.Navigate(r.srv.URL+"/login/spa?prompt=none"), chromedp.WaitVisible(chromedp.CSS("#signed-in, #rp-error")))
	if res := r.last(); res.Error != "" {
		t.Fatalf("a refused logout ended the session: %+v", res)
	}

	// Registered: back at the web app with the state; the session ended.
	d.step(browser, "logout", 20*time.Second, chromedp.Navigate(endSession(loggedOut)), chromedp.WaitVisible(chromedp.CSS("#logged-out")))
	actx, cancel := context.WithTimeout(browser, 5*time.Second)
	state, err := chromedp.Run(actx, chromedp.AttributeValue(chromedp.CSS("#logged-out"), "data-state"))
	cancel()
	if err != nil || state.Value != "bye-123" {
		t.Fatalf("logged out with state %+v (%v)", state, err)
	}
	d.step(browser, "prompt=none after logout", 20*time.Second, chromedp.Navigate(r.srv.URL+"/login/wiki?prompt=none"), chromedp.WaitVisible(chromedp.CSS("#rp-error")))
	if got := d.text(browser, "#rp-error"); got != "login_required" {
		t.Fatalf("prompt=none after logout: %q", got)
	}
	evs := auditEvents(t, st, "browser_session/"+wiki.SID)
	if len(evs) != 3 || !strings.HasPrefix(evs[0], "browser_session_started") || !strings.HasPrefix(evs[1], "browser_session_joined") ||
		!strings.HasPrefix(evs[2], `browser_session_ended`) || !strings.Contains(evs[2], `"client_ids":["spa","wiki"]`) || !strings.Contains(evs[2], `"reason":"logout"`) {
		t.Fatalf("browser session events: %v", evs)
	}

	// Back-channel: both apps get a logout token, the second try after a 500.
	keys := oidc.NewRemoteKeySet(context.Background(), st.URL+"/.well-known/jwks.json")
	deadline := time.Now().Add(30 * time.Second)
	for _, client := range []string{"wiki", "spa"} {
		for len(bc.tokens("/"+client)) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("%s got %d back-channel POSTs, want a failed one and a retry", client, len(bc.tokens("/"+client)))
			}
			time.Sleep(20 * time.Millisecond)
		}
		toks := bc.tokens("/" + client)
		if len(toks) != 2 || toks[0] != toks[1] {
			t.Fatalf("%s: the retry sent another token (%d POSTs)", client, len(toks))
		}
		payload, err := keys.VerifySignature(context.Background(), toks[1])
		if err != nil {
			t.Fatalf("%s: the logout token does not verify against the JWKS: %v", client, err)
		}
		var c map[string]any
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatal(err)
		}
		evsClaim, _ := c["events"].(map[string]any)
		_, hasEvent := evsClaim["http://schemas.openid.net/event/backchannel-logout"]
		iat, _ := c["iat"].(float64)
		if c["iss"] != st.URL || c["aud"] != client || c["sub"] != accountID || c["sid"] != wiki.SID || c["jti"] == nil ||
			!hasEvent || c["nonce"] != nil || time.Since(time.Unix(int64(iat), 0)) > time.Minute {
			t.Fatalf("%s: logout token claims %v", client, c)
		}
	}
	for _, e := range d.errs.list() {
		if !strings.Contains(e, "Failed to load resource") {
			t.Errorf("page error: %s", e)
		}
	}
}
