package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// Registering, reading, updating and deleting a webhook; the secret is
// write-only and never in a read, an event or the log.
func TestWebhookRegistration(t *testing.T) {
	env := testenv.Start(t, "", nil)
	const secret1, secret2 = "first-secret-0123456789", "second-secret-0123456789"
	body := map[string]any{"url": "https://crm.example.com/hook", "secret": secret1, "events": []string{"account_updated", "account_created", "account_created"}}

	r := env.Admin("PUT", "/v1/webhooks/crm", body)
	if r.Status != http.StatusCreated || r.Header.Get("Location") != "/v1/webhooks/crm" || r.Header.Get("X-Bindery-Position") == "" {
		t.Fatalf("register: %d %v %s", r.Status, r.Header, r.Body)
	}
	first := r.Header.Get("X-Bindery-Position")
	if got := string(r.Body); !strings.Contains(got, `"events":["account_created","account_updated"]`) || !strings.Contains(got, `"secret_set":true`) {
		t.Fatalf("register answer: %s", got)
	}
	pos := r.Header.Get("X-Bindery-Position")

	g := env.Admin("GET", "/v1/webhooks/crm?min_position="+pos, nil)
	w := g.Map(t)
	if g.Status != http.StatusOK || w["url"] != "https://crm.example.com/hook" || w["secret_set"] != true || w["created_at"] == nil {
		t.Fatalf("read: %d %s", g.Status, g.Body)
	}
	if l := env.Admin("GET", "/v1/webhooks", nil); !strings.Contains(string(l.Body), `"id":"crm"`) {
		t.Fatalf("list: %s", l.Body)
	}

	// The same PUT again changes nothing: no event, the same position.
	r = env.Admin("PUT", "/v1/webhooks/crm", body)
	if r.Status != http.StatusOK || r.Header.Get("X-Bindery-Position") != first {
		t.Fatalf("repeated PUT: %d %v", r.Status, r.Header)
	}
	// A new URL without the secret keeps the secret.
	r = env.Admin("PUT", "/v1/webhooks/crm", map[string]any{"url": "https://crm2.example.com/hook", "events": []string{"*"}})
	if r.Status != http.StatusOK || r.Header.Get("X-Bindery-Position") == "" {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	g = env.Admin("GET", "/v1/webhooks/crm?min_position="+r.Header.Get("X-Bindery-Position"), nil)
	if w := g.Map(t); w["url"] != "https://crm2.example.com/hook" || w["secret_set"] != true {
		t.Fatalf("after update: %s", g.Body)
	}
	// A new secret is an update too.
	r = env.Admin("PUT", "/v1/webhooks/crm", map[string]any{"url": "https://crm2.example.com/hook", "events": []string{"*"}, "secret": secret2})
	if r.Status != http.StatusOK || r.Header.Get("X-Bindery-Position") == "" {
		t.Fatalf("new secret: %d %s", r.Status, r.Body)
	}

	// No secret in any read, event or log line.
	recs, err := env.App.Store.Load(context.Background(), events.Aggregate{Type: "webhook", ID: "crm"}, 0)
	if err != nil || len(recs) != 3 {
		t.Fatalf("webhook events: %d %v", len(recs), err)
	}
	for _, rec := range recs {
		if strings.Contains(string(rec.Raw), secret1) || strings.Contains(string(rec.Raw), secret2) {
			t.Fatalf("secret in event %s", rec.Envelope.Type)
		}
	}
	if !strings.Contains(string(recs[0].Raw), `"secret_sealed":"v1:`) {
		t.Fatalf("registration does not hold the sealed secret: %s", recs[0].Raw)
	}
	for _, path := range []string{"/v1/webhooks/crm", "/v1/webhooks"} {
		if b := string(env.Admin("GET", path, nil).Body); strings.Contains(b, secret1) || strings.Contains(b, secret2) || strings.Contains(b, "v1:") {
			t.Fatalf("secret material in GET %s: %s", path, b)
		}
	}

	d := env.Admin("DELETE", "/v1/webhooks/crm", nil)
	if d.Status != http.StatusOK || d.Header.Get("X-Bindery-Position") == "" {
		t.Fatalf("delete: %d %s", d.Status, d.Body)
	}
	if g := env.Admin("GET", "/v1/webhooks/crm?min_position="+d.Header.Get("X-Bindery-Position"), nil); g.Status != http.StatusNotFound || g.Map(t)["code"] != "not_found" {
		t.Fatalf("read after delete: %d %s", g.Status, g.Body)
	}
	if d := env.Admin("DELETE", "/v1/webhooks/crm", nil); d.Status != http.StatusNotFound {
		t.Fatalf("second delete: %d", d.Status)
	}
	// The id can be registered again, and needs a secret again.
	if r := env.Admin("PUT", "/v1/webhooks/crm", map[string]any{"url": "https://crm.example.com/hook", "events": []string{"*"}}); r.Status != http.StatusBadRequest {
		t.Fatalf("re-register without a secret: %d %s", r.Status, r.Body)
	}
	if r := env.Admin("PUT", "/v1/webhooks/crm", body); r.Status != http.StatusCreated {
		t.Fatalf("re-register: %d %s", r.Status, r.Body)
	}
	if logs := env.Logs.String(); strings.Contains(logs, secret1) || strings.Contains(logs, secret2) {
		t.Fatal("a webhook secret is in the log")
	}
}

// Every bad registration is a 4xx problem with a stable code.
func TestWebhookRegistrationRejects(t *testing.T) {
	env := testenv.Start(t, "", nil)
	good := func(change func(map[string]any)) map[string]any {
		b := map[string]any{"url": "https://h.example/hook", "secret": "0123456789abcdef", "events": []string{"account_created"}}
		change(b)
		return b
	}
	tests := []struct {
		name   string
		id     string
		body   any
		status int
		code   string
	}{
		{"id with a dot", "a.b", good(func(map[string]any) {}), 400, "validation_failed"},
		{"id upper case", "CRM", good(func(map[string]any) {}), 400, "validation_failed"},
		{"no url", "x", good(func(b map[string]any) { delete(b, "url") }), 400, "validation_failed"},
		{"ftp url", "x", good(func(b map[string]any) { b["url"] = "ftp://h.example" }), 400, "validation_failed"},
		{"url with credentials", "x", good(func(b map[string]any) { b["url"] = "https://u:p@h.example" }), 400, "validation_failed"},
		{"no secret", "x", good(func(b map[string]any) { delete(b, "secret") }), 400, "validation_failed"},
		{"short secret", "x", good(func(b map[string]any) { b["secret"] = "short" }), 400, "validation_failed"},
		{"no events", "x", good(func(b map[string]any) { b["events"] = []string{} }), 400, "validation_failed"},
		{"unknown event", "x", good(func(b map[string]any) { b["events"] = []string{"acount_created"} }), 400, "validation_failed"},
		{"events not a list", "x", good(func(b map[string]any) { b["events"] = "account_created" }), 400, "validation_failed"},
		{"unknown field", "x", good(func(b map[string]any) { b["secret_set"] = true }), 400, "validation_failed"},
		{"broken JSON", "x", `{"url":`, 400, "validation_failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := env.Admin("PUT", "/v1/webhooks/"+tc.id, tc.body)
			if r.Status != tc.status || r.Header.Get("Content-Type") != "application/problem+json" || r.Map(t)["code"] != tc.code {
				t.Fatalf("PUT /v1/webhooks/%s %v: %d %s, want %d %s", tc.id, tc.body, r.Status, r.Body, tc.status, tc.code)
			}
		})
	}
	if r := env.Admin("PUT", "/v1/webhooks/x", "url=x", "Content-Type", "text/plain"); r.Status != http.StatusUnsupportedMediaType {
		t.Errorf("text body: %d", r.Status)
	}
	if r := env.Do("PUT", "/v1/webhooks/x", good(func(map[string]any) {})); r.Status != http.StatusUnauthorized {
		t.Errorf("no admin token: %d", r.Status)
	}
	if r := env.Admin("GET", "/v1/webhooks/nope", nil); r.Status != http.StatusNotFound {
		t.Errorf("unknown webhook: %d", r.Status)
	}
	if r := env.Admin("DELETE", "/v1/webhooks/a.b", nil); r.Status != http.StatusNotFound {
		t.Errorf("delete a malformed id: %d", r.Status)
	}
}
