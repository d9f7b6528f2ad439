package devstack

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// CORS of the OpenID Provider: discovery and JWKS to any origin; token,
// userinfo, revocation and introspection only to the origins of
// registered redirect URIs, following registrations as they change;
// preflights answered.
func TestSSOCORS(t *testing.T) {
	t.Parallel()
	st, _ := startStack(t, "")
	const app = "https://wiki.example.com"
	call := func(method, path, origin string, preflight bool) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, st.URL+path, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if preflight {
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
		if r := call("GET", path, "https://anyone.example", false); r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET %s: %d, allow-origin %q", path, r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
		}
		if r := call("OPTIONS", path, "https://anyone.example", true); r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "GET") {
			t.Errorf("preflight %s: %d %v", path, r.StatusCode, r.Header)
		}
	}
	clientPaths := []string{"/oauth2/token", "/v1/userinfo", "/oauth2/revoke", "/oauth2/introspect"}
	check := func(origin string, want bool) {
		t.Helper()
		for _, path := range clientPaths {
			pre := call("OPTIONS", path, origin, true)
			got := pre.Header.Get("Access-Control-Allow-Origin")
			if pre.StatusCode != 204 || (got == origin) != want || (got != "" && got != origin) {
				t.Errorf("preflight %s from %s: %d allow-origin %q, want allowed=%v", path, origin, pre.StatusCode, got, want)
			}
			if want && (!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "POST")) {
				t.Errorf("preflight %s: headers %v", path, pre.Header)
			}
			real := call("POST", path, origin, false)
			if got := real.Header.Get("Access-Control-Allow-Origin"); (got == origin) != want || real.Header.Get("X-Request-Id") == "" {
				t.Errorf("POST %s from %s: allow-origin %q, want allowed=%v", path, origin, got, want)
			}
		}
	}
	// The view follows the registrations shortly after the write: wait
	// (with a deadline) until the token endpoint's preflight says so.
	settle := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for (call("OPTIONS", "/oauth2/token", app, true).Header.Get("Access-Control-Allow-Origin") == app) != want {
			if time.Now().After(deadline) {
				t.Fatalf("the allowed origins did not follow the registration (want allowed=%v)", want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	check(app, false) // nobody registered it yet
	adminJSON(t, "PUT", st.URL+"/v1/oidc/clients/wiki", map[string]any{"name": "Wiki", "app": "demo", "type": "public", "redirect_uris": []string{app + "/oauth/callback"}})
	settle(true)
	check(app, true)
	check("https://evil.example", false)
	check("https://wiki.example.com:8443", false) // another origin of the same host
	adminJSON(t, "DELETE", st.URL+"/v1/oidc/clients/wiki", nil)
	settle(false)
	check(app, false)
}
