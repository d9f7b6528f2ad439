package console_test

import (
	"bufio"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/crypto/hostcode"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

type browser struct {
	t   *testing.T
	env *testenv.Env
	*testenv.Browser
}

func newBrowser(t *testing.T, env *testenv.Env) *browser {
	return &browser{t: t, env: env, Browser: env.NewBrowser()}
}

type answer struct {
	status int
	url    string
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values) answer {
	b.t.Helper()
	p := b.Do(method, path, form)
	return answer{p.Status, p.URL.Path, p.Header, p.Body}
}

func (b *browser) get(path string) answer { b.t.Helper(); return b.do("GET", path, nil) }

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func csrfOf(t *testing.T, a answer) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(a.body)
	if m == nil {
		t.Fatalf("no CSRF field on %s:\n%s", a.url, a.body)
	}
	return m[1]
}

// signIn signs the browser in to the console as the mini-program user
// holding idToken: the console sends it to Bindery's hosted login page,
// the user scans and confirms its QR code through the API, and the browser
// follows the redirects back (start is /console/signin/start?…).
func (b *browser) signIn(start, idToken string) answer {
	b.t.Helper()
	p := b.Get(start)
	if p.URL.Path == "/oidc/login" {
		p = b.SignInQR(p, idToken)
	}
	return answer{p.Status, p.URL.Path, p.Header, p.Body}
}

const hostSecret = "host-secret-0123456789"

// hostUser logs the host app's user externalID in through app (a
// mini-program user) and answers the login's answer.
func hostUser(t *testing.T, env *testenv.Env, app, externalID string) map[string]any {
	t.Helper()
	login := env.Do("POST", "/v1/apps/"+app+"/login/code", `{"code":"`+hostcode.Mint([]byte(hostSecret), externalID, time.Now().Add(time.Minute), hostcode.NewNonce())+`"}`)
	if login.Status != 200 || login.Map(t)["status"] != "OK" {
		t.Fatalf("host login %s: %d %s", externalID, login.Status, login.Body)
	}
	env.Admin("GET", "/v1/accounts?q=x&min_position="+url.QueryEscape(login.Header.Get("X-Bindery-Position")), nil)
	return login.Map(t)
}

func create(t *testing.T, env *testenv.Env, body string) string {
	t.Helper()
	r := env.Admin("POST", "/v1/accounts", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("create %s: %d %s", body, r.Status, r.Body)
	}
	return r.Map(t)["id"].(string)
}

func admin(t *testing.T, env *testenv.Env, method, path, body string) testenv.Response {
	t.Helper()
	r := env.Admin(method, path, body)
	if r.Status >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
	}
	return r
}

// The console's pages load with real data for an administrator, search
// finds people by phone and by name, its actions are events whose actor is
// the administrator's account, forms need the session's CSRF token, every
// answer carries the strict CSP, and an account without bindery:admin is
// refused (at sign-in, and at once when its grant is revoked).
func TestConsolePagesAndActions(t *testing.T) {
	env := testenv.Start(t, "", nil)
	ada := create(t, env, `{"display_name":"Ada Admin","username":"ada","external_id":"A1"}`)
	bob := create(t, env, `{"display_name":"Bob Lee","phone":"+8613800138001","email":"bob@example.com","external_id":"E7"}`)
	admin(t, env, "PUT", "/v1/roles/console-admin", `{"permissions":["bindery:admin"]}`)
	admin(t, env, "PUT", "/v1/roles/seller", `{"permissions":["report:read"]}`)
	admin(t, env, "PUT", "/v1/orgs/hq", `{"name":"Headquarters"}`)
	admin(t, env, "PUT", "/v1/orgs/sales", `{"name":"Sales","parent":"hq"}`)
	admin(t, env, "POST", "/v1/orgs/sales/members", `{"account_id":"`+bob+`"}`)
	admin(t, env, "PUT", "/v1/apps/crm", `{"name":"CRM","kind":"host","host":{"secret":"`+hostSecret+`"}}`)
	admin(t, env, "PUT", "/v1/webhooks/erp", `{"url":"http://127.0.0.1:1/hook","secret":"webhook-secret-0123456789","events":["role_granted"]}`)
	pos := admin(t, env, "POST", "/v1/accounts/"+ada+"/roles", `{"role":"console-admin"}`).Header.Get("X-Bindery-Position")
	env.Admin("GET", "/v1/accounts/"+ada+"?min_position="+url.QueryEscape(pos), nil)

	b := newBrowser(t, env)
	// Signed out: every page sends to the sign-in page.
	if a := b.get("/console/accounts"); a.url != "/console/signin" || !strings.Contains(a.body, "Sign in with the mini program") {
		t.Fatalf("signed out: %d at %s", a.status, a.url)
	}
	// Bob holds no bindery:admin: refused, with no session.
	bobIDToken := hostUser(t, env, "crm", "E7")["id_token"].(string)
	if a := b.signIn("/console/signin/start?next=/console", bobIDToken); a.status != http.StatusForbidden || !strings.Contains(a.body, "does not hold the permission") {
		t.Fatalf("bob's sign-in: %d %s", a.status, a.body)
	}
	if a := b.get("/console"); a.url != "/console/signin" {
		t.Fatalf("bob got a session: %s", a.url)
	}
	// Signing in again in this browser is Bob again at once (single
	// sign-on, no scan); "another account" asks for a new scan: Ada's.
	if a := b.get("/console/signin/start"); a.status != http.StatusForbidden {
		t.Fatalf("bob's second sign-in: %d at %s", a.status, a.url)
	}
	a := b.signIn("/console/signin/start?switch=1&next=/console", hostUser(t, env, "crm", "A1")["id_token"].(string))
	if a.status != 200 || a.url != "/console" || !strings.Contains(a.body, "Logins per minute") || !strings.Contains(a.body, "Ada Admin") {
		t.Fatalf("ada's sign-in: %d at %s\n%s", a.status, a.url, a.body)
	}
	for path, want := range map[string]string{
		"/console":                    "Last seal",
		"/console/apps":               "CRM",
		"/console/accounts":           "Bob Lee",
		"/console/accounts?q=bob":     "Bob Lee",
		"/console/accounts/" + bob:    "&#43;8613800138001",
		"/console/roles":              "console-admin",
		"/console/orgs":               "Headquarters",
		"/console/webhooks":           "http://127.0.0.1:1/hook",
		"/console/audit":              "Verify now",
		"/console/accounts/" + ada:    "administrator",
		"/console/static/console.css": "Bindery console",
	} {
		a := b.get(path)
		if a.status != 200 || !strings.Contains(a.body, want) {
			t.Errorf("%s: %d, want %q in\n%s", path, a.status, want, a.body)
		}
		if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	// The webhook's receiver is down: its page shows the failed attempts of
	// the role_granted deliveries among the recent deliveries.
	testenv.Eventually(t, 15*time.Second, func() bool {
		a := b.get("/console/webhooks")
		return strings.Contains(a.body, "Recent deliveries") && strings.Contains(a.body, "bindery.role_granted.v1") && strings.Contains(a.body, "failed: ")
	})
	if a := b.get("/console/orgs"); strings.Index(a.body, "Headquarters") > strings.Index(a.body, "Sales") {
		t.Error("the org tree does not put the parent first")
	}
	// Search by phone (with and without +) and by name prefix finds Bob only.
	for _, q := range []string{"%2B8613800138001", "8613800138001", "bo", "LEE", "bob@example.com", "E7"} {
		a := b.get("/console/accounts?q=" + q)
		if !strings.Contains(a.body, "/console/accounts/"+bob) || strings.Contains(a.body, "/console/accounts/"+ada) {
			t.Errorf("search %s: %s", q, a.body)
		}
	}
	if a := b.get("/console/accounts?limit=9999"); a.status != 400 || !strings.Contains(a.body, "validation_failed") {
		t.Errorf("bad search: %d", a.status)
	}

	// A grant without the CSRF token is refused; with it, it is an event
	// whose actor is Ada's account.
	page := b.get("/console/accounts/" + bob)
	csrf := csrfOf(t, page)
	if a := b.do("POST", "/console/accounts/"+bob+"/roles", url.Values{"role": {"seller"}}); a.status != http.StatusForbidden {
		t.Fatalf("grant without CSRF: %d", a.status)
	}
	wrong := "0" + csrf[1:]
	if csrf[0] == '0' { // the altered token must differ from the right one
		wrong = "1" + csrf[1:]
	}
	if a := b.do("POST", "/console/accounts/"+bob+"/roles", url.Values{"role": {"seller"}, "csrf": {wrong}}); a.status != http.StatusForbidden {
		t.Fatalf("grant with a wrong CSRF: %d", a.status)
	}
	a = b.do("POST", "/console/accounts/"+bob+"/roles", url.Values{"role": {"seller"}, "org": {"sales"}, "csrf": {csrf}})
	if a.status != 200 || !strings.Contains(a.body, "The role is granted.") || !strings.Contains(a.body, "<strong>seller</strong> in sales") {
		t.Fatalf("grant: %d %s", a.status, a.body)
	}
	// Disabling goes through a confirmation page.
	confirm := b.get("/console/accounts/" + bob + "/confirm?action=disable")
	if !strings.Contains(confirm.body, "Disable the account") {
		t.Fatalf("confirm page: %s", confirm.body)
	}
	a = b.do("POST", "/console/accounts/"+bob+"/disable", url.Values{"csrf": {csrfOf(t, confirm)}})
	if a.status != 200 || !strings.Contains(a.body, "The account is disabled.") {
		t.Fatalf("disable: %d %s", a.status, a.body)
	}
	// Erasing without the ticked confirmation does nothing.
	if a := b.do("POST", "/console/accounts/"+bob+"/erase", url.Values{"csrf": {csrfOf(t, confirm)}}); a.status != http.StatusBadRequest || !strings.Contains(a.body, "Tick the confirmation") {
		t.Fatalf("unticked erase: %d %s", a.status, a.body)
	}
	if r := env.Admin("GET", "/v1/accounts/"+bob, nil); r.Map(t)["status"] != "disabled" {
		t.Fatalf("an unticked erase changed the account: %s", r.Body)
	}
	// The timeline (the audit query) names Ada's account as the actor.
	actor := "account:" + ada
	for _, ev := range []string{"role_granted", "account_disabled"} {
		re := regexp.MustCompile(`<code>` + ev + `</code></td><td class="actor">([^<]*)</td>`)
		m := re.FindStringSubmatch(a.body)
		if m == nil || m[1] != actor {
			t.Errorf("timeline %s: %v (want actor %s)", ev, m, actor)
		}
	}
	r := env.Admin("GET", "/v1/audit/events?account="+bob+"&type=account_disabled", nil)
	if !strings.Contains(string(r.Body), `"actor":"`+actor+`"`) {
		t.Errorf("audit API: the disable's actor is not %s: %s", actor, r.Body)
	}
	// Enable again; a wrong-origin post is refused even with the token.
	confirm = b.get("/console/accounts/" + bob + "/confirm?action=enable")
	req, _ := http.NewRequest("POST", env.URL+"/console/accounts/"+bob+"/enable", strings.NewReader("csrf="+csrfOf(t, confirm)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := b.C.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin post: %v %v", resp.StatusCode, err)
	}
	if a := b.do("POST", "/console/accounts/"+bob+"/enable", url.Values{"csrf": {csrfOf(t, confirm)}}); !strings.Contains(a.body, "The account is enabled.") {
		t.Fatalf("enable: %d %s", a.status, a.body)
	}

	// Bob logs in through the host app; the console lists the session and
	// revokes it (confirmed); his next refresh is refused, and the
	// timeline's session_revoked names Ada's account.
	sessionToken := hostUser(t, env, "crm", "E7")["session_token"].(string)
	var sid string
	testenv.Eventually(t, 10*time.Second, func() bool {
		m := regexp.MustCompile(`action=revoke-session&amp;session=([A-Za-z0-9_-]+)`).FindStringSubmatch(b.get("/console/accounts/" + bob).body)
		if m != nil {
			sid = m[1]
		}
		return m != nil
	})
	confirm = b.get("/console/accounts/" + bob + "/confirm?action=revoke-session&session=" + sid)
	if !strings.Contains(confirm.body, "Revoke the session") {
		t.Fatalf("session confirm page: %s", confirm.body)
	}
	a = b.do("POST", "/console/accounts/"+bob+"/sessions/revoke", url.Values{"session": {sid}, "csrf": {csrfOf(t, confirm)}})
	if a.status != 200 || !strings.Contains(a.body, "The session is revoked") || strings.Contains(a.body, "session="+sid) {
		t.Fatalf("session revoke: %d %s", a.status, a.body)
	}
	if m := regexp.MustCompile(`<code>session_revoked</code></td><td class="actor">([^<]*)</td>`).FindStringSubmatch(a.body); m == nil || m[1] != actor {
		t.Errorf("timeline session_revoked: %v (want actor %s)", m, actor)
	}
	if r := env.Do("POST", "/v1/sessions/refresh", `{"session_token":"`+sessionToken+`"}`); r.Status != http.StatusUnauthorized {
		t.Fatalf("refresh after the console's revoke: %d %s", r.Status, r.Body)
	}
	if a := b.do("POST", "/console/accounts/"+ada+"/sessions/revoke", url.Values{"session": {sid}, "csrf": {csrfOf(t, confirm)}}); a.status != http.StatusNotFound {
		t.Fatalf("revoking another account's session: %d", a.status)
	}

	// OIDC clients: the console's own is listed (not deletable); register
	// a web app by form, delete it after a confirmation.
	cl := b.get("/console/clients")
	if cl.status != 200 || !strings.Contains(cl.body, "<code>bindery-console</code>") || strings.Contains(cl.body, "/console/clients/bindery-console/confirm") {
		t.Fatalf("clients page: %d %s", cl.status, cl.body)
	}
	a = b.do("POST", "/console/clients", url.Values{"csrf": {csrfOf(t, cl)}, "client_id": {"wiki"}, "name": {"Team wiki"}, "app": {"crm"},
		"type": {"confidential"}, "secret": {"wiki-secret-0123456789"}, "redirect_uris": {"https://wiki.example.com/cb\r\n"}})
	if a.status != 200 || !strings.Contains(a.body, "The OIDC client is registered.") || !strings.Contains(a.body, "https://wiki.example.com/cb") || strings.Contains(a.body, "wiki-secret") {
		t.Fatalf("register a client: %d %s", a.status, a.body)
	}
	if r := env.Admin("GET", "/v1/oidc/clients/wiki", nil); r.Status != 200 || !strings.Contains(string(r.Body), `"secret_set":true`) {
		t.Fatalf("the registered client: %d %s", r.Status, r.Body)
	}
	if a := b.do("POST", "/console/clients", url.Values{"csrf": {csrfOf(t, cl)}, "client_id": {"bad"}, "name": {"Bad"}, "app": {"crm"}, "type": {"public"}, "redirect_uris": {"http://wiki.example.com/cb"}}); a.status != 400 || !strings.Contains(a.body, "validation_failed") {
		t.Fatalf("an invalid client: %d %s", a.status, a.body)
	}
	confirm = b.get("/console/clients/wiki/confirm")
	if !strings.Contains(confirm.body, "Delete the client") {
		t.Fatalf("client delete confirm: %s", confirm.body)
	}
	if a := b.do("POST", "/console/clients/wiki/delete", url.Values{"csrf": {csrfOf(t, confirm)}}); !strings.Contains(a.body, "The OIDC client is deleted.") || strings.Contains(a.body, "<code>wiki</code>") {
		t.Fatalf("delete a client: %d %s", a.status, a.body)
	}
	// Organisations: create one, move it under another, add a member; the
	// events name Ada's account.
	og := b.get("/console/orgs")
	if a := b.do("POST", "/console/orgs", url.Values{"csrf": {csrfOf(t, og)}, "id": {"ops"}, "name": {"Operations"}}); !strings.Contains(a.body, "The organisation is saved.") {
		t.Fatalf("create an org: %d %s", a.status, a.body)
	}
	if a := b.do("POST", "/console/orgs", url.Values{"csrf": {csrfOf(t, og)}, "id": {"ops"}, "name": {"Operations"}, "parent": {"sales"}}); !regexp.MustCompile(`(?s)Sales</strong>.*Operations</strong>`).MatchString(a.body) {
		t.Fatalf("move an org: %d %s", a.status, a.body)
	}
	if a := b.do("POST", "/console/orgs", url.Values{"csrf": {csrfOf(t, og)}, "id": {"hq"}, "name": {"Headquarters"}, "parent": {"ops"}}); a.status < 400 {
		t.Fatalf("a cycle was accepted: %d", a.status)
	}
	if a := b.do("POST", "/console/orgs/members", url.Values{"csrf": {csrfOf(t, og)}, "org": {"ops"}, "account_id": {ada}}); !strings.Contains(a.body, "The member is added.") {
		t.Fatalf("add a member: %d %s", a.status, a.body)
	}
	// Removing asks for the confirmation first, then takes the member out.
	if a := b.do("POST", "/console/orgs/members/remove", url.Values{"csrf": {csrfOf(t, og)}, "org": {"ops"}, "account_id": {ada}}); a.status != http.StatusBadRequest {
		t.Fatalf("remove without the confirmation: %d %s", a.status, a.body)
	}
	if r := env.Admin("GET", "/v1/audit/events?aggregate=org/ops", nil); strings.Contains(string(r.Body), "org_member_removed") {
		t.Fatal("an unconfirmed removal was made")
	}
	if a := b.do("POST", "/console/orgs/members/remove", url.Values{"csrf": {csrfOf(t, og)}, "org": {"ops"}, "account_id": {ada}, "confirm": {"yes"}}); !strings.Contains(a.body, "The member is removed.") {
		t.Fatalf("remove a member: %d %s", a.status, a.body)
	}
	if r := env.Admin("GET", "/v1/audit/events?aggregate=org/ops", nil); !strings.Contains(string(r.Body), "org_member_removed") {
		t.Errorf("no removal in the org's events: %s", r.Body)
	}
	if r := env.Admin("GET", "/v1/audit/events?aggregate=org/ops", nil); !strings.Contains(string(r.Body), `"actor":"`+actor+`"`) || strings.Contains(string(r.Body), `"actor":"admin:`) {
		t.Errorf("the org's events are not all by %s: %s", actor, r.Body)
	}

	// Audit: verify now runs, the page follows it to its report.
	a = b.do("POST", "/console/audit/verify", url.Values{"csrf": {csrfOf(t, b.get("/console/audit"))}})
	testenv.Eventually(t, 60*time.Second, func() bool {
		a = b.get("/console/audit")
		return strings.Contains(a.body, `id="verify-report"`)
	})
	if !strings.Contains(a.body, "OK: the history is intact.") {
		t.Fatalf("verify: %s", a.body)
	}
	if a := b.get("/console"); !regexp.MustCompile(`history</span> \d{4}-\d\d-\d\d`).MatchString(a.body) {
		t.Errorf("the overview shows no seal of the history after a verify: %s", a.body)
	}
	// Export: the account's events as NDJSON.
	ex := b.get("/console/audit/export?account=" + bob)
	if ex.status != 200 || ex.header.Get("Content-Type") != "application/x-ndjson" || !strings.Contains(ex.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v", ex.status, ex.header)
	}
	lines := 0
	for sc := bufio.NewScanner(strings.NewReader(ex.body)); sc.Scan(); lines++ {
	}
	if lines < 4 || !strings.Contains(ex.body, "bindery.role_granted.v1") {
		t.Fatalf("export: %d lines\n%s", lines, ex.body)
	}

	// Revoking Ada's admin role ends her console access at the next request.
	pos = admin(t, env, "DELETE", "/v1/accounts/"+ada+"/roles/console-admin", "").Header.Get("X-Bindery-Position")
	env.Admin("GET", "/v1/accounts/"+ada+"?min_position="+url.QueryEscape(pos), nil)
	if a := b.get("/console/accounts"); a.status != http.StatusForbidden || !strings.Contains(a.body, "Not an administrator") {
		t.Fatalf("after the revoke: %d at %s", a.status, a.url)
	}
}

// With no app registered there is no mini program to scan with: sign-in
// says so (console_app_missing) rather than letting anyone in; a forged or
// foreign cookie is no session.
func TestConsoleWithoutApp(t *testing.T) {
	env := testenv.Start(t, "", nil)
	b := newBrowser(t, env)
	a := b.get("/console")
	if a.url != "/console/signin" || !strings.Contains(a.body, "Sign in with the mini program") {
		t.Fatalf("%d at %s: %s", a.status, a.url, a.body)
	}
	if a := b.get("/console/signin/start"); a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "console_app_missing") {
		t.Fatalf("start: %d %s", a.status, a.body)
	}
	if a := b.get("/console/signin/callback?state=x"); a.status != http.StatusBadRequest {
		t.Fatalf("callback: %d", a.status)
	}
	if a := b.do("POST", "/console/accounts/x/disable", url.Values{"csrf": {"x"}}); a.status != http.StatusUnauthorized {
		t.Fatalf("post without a session: %d", a.status)
	}
	if a := b.get("/console/nothing/here"); a.status != http.StatusNotFound || a.header.Get("Content-Security-Policy") == "" {
		t.Fatalf("unknown page: %d", a.status)
	}
	// A forged cookie is no session.
	u, _ := url.Parse(env.URL + "/console")
	b.C.Jar.SetCookies(u, []*http.Cookie{{Name: "bindery_console", Value: "eyJhIjoieCIsImUiOjk5OTk5OTk5OTksImMiOiJ4In0.AAAA", Path: "/console"}})
	if a := b.get("/console"); a.url != "/console/signin" {
		t.Fatalf("forged cookie: %s", a.url)
	}
}
