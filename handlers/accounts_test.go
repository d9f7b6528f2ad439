package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

func TestAccountLifecycle(t *testing.T) {
	env := testenv.Start(t, "", nil)
	r := env.Admin("POST", "/v1/accounts", map[string]any{
		"username": "Alice", "password": "correct horse battery", "display_name": "Alice",
		"phone": "+86 138-0013-8000", "email": "Alice@Example.com", "external_id": "E1", "attributes": map[string]any{"dept": "ops"},
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	id := r.Map(t)["id"].(string)
	pos := r.Header.Get("X-Bindery-Position")
	if pos == "" || r.Header.Get("X-Request-Id") == "" {
		t.Fatalf("headers %v", r.Header)
	}
	// Read your own write.
	g := env.Admin("GET", "/v1/accounts/"+id+"?min_position="+pos, nil)
	if g.Status != 200 {
		t.Fatalf("get: %d %s", g.Status, g.Body)
	}
	acc := g.Map(t)
	if acc["phone"] != "+8613800138000" || acc["email"] != "alice@example.com" || acc["status"] != "active" || acc["has_password"] != true {
		t.Fatalf("account %v", acc)
	}
	if strings.Contains(string(g.Body), "correct horse") || strings.Contains(string(g.Body), "password_sealed") {
		t.Fatal("password material in the read")
	}
	for _, q := range []string{"username=alice", "phone=%2B8613800138000", "email=alice@example.com", "external_id=E1"} {
		l := env.Admin("GET", "/v1/accounts?"+q+"&min_position="+pos, nil)
		if l.Status != 200 || !strings.Contains(string(l.Body), id) {
			t.Fatalf("lookup %s: %d %s", q, l.Status, l.Body)
		}
	}
	// Unique values are unique, case-insensitively for username and email.
	for body, code := range map[string]string{
		`{"username":"ALICE"}`:          "username_taken",
		`{"phone":"+8613800138000"}`:    "phone_taken",
		`{"email":"ALICE@example.com"}`: "email_taken",
		`{"external_id":"E1"}`:          "external_id_taken",
	} {
		d := env.Admin("POST", "/v1/accounts", body)
		if d.Status != http.StatusConflict || d.Map(t)["code"] != code {
			t.Fatalf("%s: %d %s", body, d.Status, d.Body)
		}
	}
	// Update releases the old phone; another account can take it.
	u := env.Admin("PATCH", "/v1/accounts/"+id, `{"phone":"+8613900139000","display_name":"Alice L."}`)
	if u.Status != 200 {
		t.Fatalf("patch: %d %s", u.Status, u.Body)
	}
	if c := env.Admin("POST", "/v1/accounts", `{"phone":"+8613800138000"}`); c.Status != http.StatusCreated {
		t.Fatalf("old phone not released: %d %s", c.Status, c.Body)
	}
	d := env.Admin("DELETE", "/v1/accounts/"+id, nil)
	if d.Status != 200 {
		t.Fatalf("disable: %d %s", d.Status, d.Body)
	}
	g = env.Admin("GET", "/v1/accounts/"+id, nil, "X-Bindery-Position", d.Header.Get("X-Bindery-Position"))
	if g.Map(t)["status"] != "disabled" || g.Map(t)["display_name"] != "Alice L." {
		t.Fatalf("after disable: %s", g.Body)
	}
}

// Fifty concurrent creates with one username: exactly one account.
func TestConcurrentUsernameOverHTTP(t *testing.T) {
	env := testenv.Start(t, "", nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := env.Admin("POST", "/v1/accounts", `{"username":"racer"}`)
			mu.Lock()
			codes[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[201] != 1 || codes[201]+codes[409] != 50 {
		t.Fatalf("status counts %v, want one 201 and 49 409", codes)
	}
}

// Every bad input answers 4xx problem+json, never a 500.
func TestBadInputs(t *testing.T) {
	env := testenv.Start(t, "", nil)
	ok := env.Admin("POST", "/v1/accounts", `{"username":"bob"}`)
	id := ok.Map(t)["id"].(string)
	big := `{"display_name":"` + strings.Repeat("x", 2<<20) + `"}`
	cases := []struct {
		name, method, path string
		body               any
		auth               bool
		status             int
		code               string
	}{
		{"broken json", "POST", "/v1/accounts", `{"username":`, true, 400, "validation_failed"},
		{"not json", "POST", "/v1/accounts", `hello`, true, 400, "validation_failed"},
		{"wrong type", "POST", "/v1/accounts", `{"username":42}`, true, 400, "validation_failed"},
		{"array body", "POST", "/v1/accounts", `[1,2]`, true, 400, "validation_failed"},
		{"null body", "POST", "/v1/accounts", `null`, true, 400, "validation_failed"},
		{"null patch", "PATCH", "/v1/accounts/" + id, ` null`, true, 400, "validation_failed"},
		{"empty account", "POST", "/v1/accounts", `{}`, true, 400, "validation_failed"},
		{"unknown field", "POST", "/v1/accounts", `{"usernme":"x"}`, true, 400, "validation_failed"},
		{"two values", "POST", "/v1/accounts", `{} {}`, true, 400, "validation_failed"},
		{"empty body", "POST", "/v1/accounts", ``, true, 400, "validation_failed"},
		{"2 MiB body", "POST", "/v1/accounts", big, true, 413, "body_too_large"},
		{"bad phone", "POST", "/v1/accounts", `{"phone":"12345"}`, true, 400, "validation_failed"},
		{"bad email", "POST", "/v1/accounts", `{"email":"a@"}`, true, 400, "validation_failed"},
		{"bad username", "POST", "/v1/accounts", `{"username":"a b"}`, true, 400, "validation_failed"},
		{"short password", "POST", "/v1/accounts", `{"password":"x"}`, true, 400, "validation_failed"},
		{"bad status", "PATCH", "/v1/accounts/" + id, `{"status":"gone"}`, true, 400, "validation_failed"},
		{"no token", "POST", "/v1/accounts", `{}`, false, 401, "unauthorized"},
		{"no token read", "GET", "/v1/accounts/" + id, nil, false, 401, "unauthorized"},
		{"bad id", "GET", "/v1/accounts/not-a-uuid", nil, true, 404, "not_found"},
		{"subject id", "GET", "/v1/accounts/a.b.>", nil, true, 404, "not_found"},
		{"unknown id", "PATCH", "/v1/accounts/00000000-0000-0000-0000-000000000000", `{"display_name":"x"}`, true, 404, "not_found"},
		{"unknown route", "GET", "/v1/nothing", nil, true, 404, "not_found"},
		{"wrong method", "PUT", "/v1/accounts", `{}`, true, 405, "method_not_allowed"},
		{"bad position", "GET", "/v1/accounts/" + id + "?min_position=zz", nil, true, 400, "validation_failed"},
		// GET /v1/accounts without criteria is now the account list (issue 11); a
		// lookup naming a field with no value is still a validation failure.
		{"lookup no criteria", "GET", "/v1/accounts?phone=", nil, true, 400, "validation_failed"},
		{"lookup unknown param", "GET", "/v1/accounts?foo=1", nil, true, 400, "validation_failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r testenv.Response
			if c.auth {
				r = env.Admin(c.method, c.path, c.body)
			} else {
				r = env.Do(c.method, c.path, c.body)
			}
			if r.Status != c.status {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, r.Status, c.status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			if got := r.Map(t)["code"]; got != c.code {
				t.Fatalf("code %v, want %s (%s)", got, c.code, r.Body)
			}
		})
	}
	// Form-encoded bodies (curl -d without -H) get 415.
	r := env.Do("POST", "/v1/accounts", nil, "Authorization", "Bearer "+testenv.AdminToken, "Content-Type", "application/x-www-form-urlencoded")
	if r.Status != http.StatusUnsupportedMediaType {
		t.Fatalf("form body: %d", r.Status)
	}
	_ = fmt.Sprint()
}
