package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

func registerHostApp(t *testing.T, env *testenv.Env, id string) {
	t.Helper()
	r := env.Admin("PUT", "/v1/apps/"+id, map[string]any{"kind": "host", "host": map[string]any{"secret": "host-secret-0123456789abcdef"}})
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("register app: %d %s", r.Status, r.Body)
	}
}

// Registering, reading, updating and deleting an OIDC client: defaults
// filled in, the secret write-only (never in a read, an event or the log),
// confidential clients only, redirect URIs checked.
func TestOIDCClientRegistration(t *testing.T) {
	env := testenv.Start(t, "", nil)
	registerHostApp(t, env, "portal")
	const secret = "wiki-client-secret-0123456789"
	body := map[string]any{"name": "Wiki", "app": "portal", "type": "confidential", "secret": secret,
		"redirect_uris": []string{"https://wiki.example.com/cb"}}
	r := env.Admin("PUT", "/v1/oidc/clients/wiki", body)
	if r.Status != http.StatusCreated || r.Header.Get("Location") != "/v1/oidc/clients/wiki" || r.Header.Get("X-Bindery-Position") == "" {
		t.Fatalf("register: %d %v %s", r.Status, r.Header, r.Body)
	}
	got := string(r.Body)
	for _, want := range []string{`"grant_types":["authorization_code","refresh_token"]`, `"scopes":["email","offline_access","openid","phone","profile","roles"]`, `"secret_set":true`} {
		if !strings.Contains(got, want) {
			t.Errorf("register answer %s lacks %s", got, want)
		}
	}
	first := r.Header.Get("X-Bindery-Position")
	g := env.Admin("GET", "/v1/oidc/clients/wiki?min_position="+first, nil)
	if m := g.Map(t); g.Status != 200 || m["name"] != "Wiki" || m["secret_set"] != true || m["type"] != "confidential" || m["created_at"] == nil {
		t.Fatalf("read: %d %s", g.Status, g.Body)
	}
	if l := env.Admin("GET", "/v1/oidc/clients", nil); !strings.Contains(string(l.Body), `"client_id":"wiki"`) {
		t.Fatalf("list: %s", l.Body)
	}
	// The same PUT again is no change.
	if r := env.Admin("PUT", "/v1/oidc/clients/wiki", body); r.Status != 200 || r.Header.Get("X-Bindery-Position") != first {
		t.Fatalf("repeat: %d %v", r.Status, r.Header)
	}
	// Without the secret: an update that keeps it.
	delete(body, "secret")
	body["name"] = "Team wiki"
	r = env.Admin("PUT", "/v1/oidc/clients/wiki", body)
	if r.Status != 200 || r.Header.Get("X-Bindery-Position") == first {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	g = env.Admin("GET", "/v1/oidc/clients/wiki?min_position="+r.Header.Get("X-Bindery-Position"), nil)
	if m := g.Map(t); m["name"] != "Team wiki" || m["secret_set"] != true {
		t.Fatalf("after update: %s", g.Body)
	}

	for _, tc := range []struct {
		name, id string
		body     map[string]any
		status   int
		code     string
	}{
		{"short secret", "a", map[string]any{"name": "A", "app": "portal", "type": "confidential", "secret": "short", "redirect_uris": []string{"https://a.example/cb"}}, 400, "validation_failed"},
		{"no secret", "a", map[string]any{"name": "A", "app": "portal", "type": "confidential", "redirect_uris": []string{"https://a.example/cb"}}, 400, "validation_failed"},
		{"public with secret", "a", map[string]any{"name": "A", "app": "portal", "type": "public", "secret": secret, "redirect_uris": []string{"https://a.example/cb"}}, 400, "validation_failed"},
		{"no redirect", "a", map[string]any{"name": "A", "app": "portal", "type": "public"}, 400, "validation_failed"},
		{"bad grant", "a", map[string]any{"name": "A", "app": "portal", "type": "public", "redirect_uris": []string{"https://a.example/cb"}, "grant_types": []string{"implicit"}}, 400, "validation_failed"},
		{"unknown app", "a", map[string]any{"name": "A", "app": "nope", "type": "public", "redirect_uris": []string{"https://a.example/cb"}}, 404, "app_not_found"},
		{"bad id", "a%20b", map[string]any{"name": "A", "app": "portal", "type": "public", "redirect_uris": []string{"https://a.example/cb"}}, 400, "validation_failed"},
		{"unknown field", "a", map[string]any{"name": "A", "app": "portal", "type": "public", "redirect_uris": []string{"https://a.example/cb"}, "colour": "red"}, 400, "validation_failed"},
	} {
		r := env.Admin("PUT", "/v1/oidc/clients/"+tc.id, tc.body)
		if r.Status != tc.status || !strings.Contains(string(r.Body), `"code":"`+tc.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.Status, r.Body, tc.status, tc.code)
		}
	}
	// A public client: no secret, device grant allowed when asked.
	r = env.Admin("PUT", "/v1/oidc/clients/spa", map[string]any{"name": "SPA", "app": "portal", "type": "public",
		"redirect_uris": []string{"http://127.0.0.1:5173/cb"}, "grant_types": []string{"authorization_code", "urn:ietf:params:oauth:grant-type:device_code"}, "scopes": []string{"openid", "profile"}})
	if r.Status != 201 || !strings.Contains(string(r.Body), `"secret_set":false`) || !strings.Contains(string(r.Body), `"scopes":["openid","profile"]`) {
		t.Fatalf("public: %d %s", r.Status, r.Body)
	}
	if r := env.Do("GET", "/v1/oidc/clients/wiki", nil); r.Status != 401 {
		t.Fatalf("without the admin token: %d", r.Status)
	}

	d := env.Admin("DELETE", "/v1/oidc/clients/wiki", nil)
	if d.Status != 200 {
		t.Fatalf("delete: %d %s", d.Status, d.Body)
	}
	if g := env.Admin("GET", "/v1/oidc/clients/wiki?min_position="+d.Header.Get("X-Bindery-Position"), nil); g.Status != 404 || !strings.Contains(string(g.Body), "oidc_client_not_found") {
		t.Fatalf("after delete: %d %s", g.Status, g.Body)
	}
	if d := env.Admin("DELETE", "/v1/oidc/clients/wiki", nil); d.Status != 404 {
		t.Fatalf("second delete: %d", d.Status)
	}

	// The secret is nowhere: not in events, reads or logs.
	recs, err := env.App.Store.Load(context.Background(), events.Aggregate{Type: "oidc_client", ID: "wiki"}, 0)
	if err != nil || len(recs) != 3 {
		t.Fatalf("events: %d %v", len(recs), err)
	}
	for _, rec := range recs {
		if rec.Stream != events.StreamHistory || strings.Contains(string(rec.Raw), secret) {
			t.Fatalf("event %s in %s: %s", rec.Envelope.Type, rec.Stream, rec.Raw)
		}
	}
	if strings.Contains(env.Logs.String(), secret) {
		t.Fatal("secret in the logs")
	}
}
