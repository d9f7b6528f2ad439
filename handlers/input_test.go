package handlers_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// Issue 13, finding 6: the input edges.
func TestInputEdges(t *testing.T) {
	env := testenv.Start(t, "", nil)

	// Duplicate keys were accepted (last wins); now refused, at any depth.
	for _, body := range []string{
		`{"display_name":"A","display_name":"B"}`,
		`{"display_name":"A","attributes":{"dept":"ops","dept":"dev"}}`,
	} {
		r := env.Admin("POST", "/v1/accounts", body)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"code":"validation_failed"`) || !strings.Contains(string(r.Body), "appears twice") {
			t.Fatalf("%s: %d %s", body, r.Status, r.Body)
		}
	}
	// The same keys in different objects are fine.
	r := env.Admin("POST", "/v1/accounts", `{"display_name":"A","attributes":{"display_name":"x"}}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("distinct objects: %d %s", r.Status, r.Body)
	}
	id, created := r.Map(t)["id"].(string), r.Header.Get("X-Bindery-Position")

	// A 3 MB body: 413 body_too_large, chunked as with a Content-Length.
	big := `{"display_name":"` + strings.Repeat("x", 3<<20) + `"}`
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader(big)
		if chunked {
			body = io.MultiReader(bytes.NewReader([]byte(big))) // no length known: sent chunked
		}
		req, _ := http.NewRequest("POST", env.URL+"/v1/accounts", body)
		req.Header.Set("Authorization", "Bearer "+testenv.AdminToken)
		req.Header.Set("Content-Type", "application/json")
		if chunked && req.ContentLength != 0 {
			t.Fatal("test bug: the body has a length")
		}
		resp, err := env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(out), `"code":"body_too_large"`) {
			t.Fatalf("chunked %v: %d %s", chunked, resp.StatusCode, out)
		}
	}

	// An upper-case UUID names the same account, answered in canonical form.
	r = env.Admin("GET", "/v1/accounts/"+strings.ToUpper(id)+"?min_position="+created, nil)
	if r.Status != http.StatusOK || r.Map(t)["id"] != id {
		t.Fatalf("upper-case id: %d %s", r.Status, r.Body)
	}
	if r := env.Admin("PUT", "/v1/roles/viewer", map[string]any{"permissions": []string{"report:read"}}); r.Status >= 300 {
		t.Fatalf("role: %d %s", r.Status, r.Body)
	}
	grant := env.Admin("POST", "/v1/accounts/"+strings.ToUpper(id)+"/roles", map[string]any{"role": "viewer"})
	if grant.Status >= 300 || grant.Map(t)["account_id"] != id {
		t.Fatalf("grant with upper-case id: %d %s", grant.Status, grant.Body)
	}
	// The check reads its own write: the grant's position, not the read's.
	r = env.Admin("POST", "/v1/authz/check", map[string]any{"account_id": strings.ToUpper(id), "permission": "report:read", "min_position": grant.Header.Get("X-Bindery-Position")})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"allowed":true`) {
		t.Fatalf("check with upper-case id: %d %s", r.Status, r.Body)
	}
	for _, bad := range []string{id[:35] + "g", strings.ReplaceAll(id, "-", ""), "{" + id + "}"} {
		if r := env.Admin("GET", "/v1/accounts/"+bad, nil); r.Status != http.StatusNotFound {
			t.Fatalf("%s: %d", bad, r.Status)
		}
	}
}

// A login code longer than any issuer hands out is refused before WeChat
// is asked.
func TestLoginCodeLengthBoundedBeforeWeChat(t *testing.T) {
	e := startLogin(t)
	e.wechatApp("shop", "", nil)
	long := strings.Repeat("a", 4096)
	e.post("/v1/apps/shop/login/code", map[string]any{"code": long}, http.StatusBadRequest, "invalid_code")
	e.post("/v1/apps/shop/login/phone", map[string]any{"code": "phone-code", "login_code": long}, http.StatusBadRequest, "invalid_code")
	e.post("/v1/login/code", map[string]any{"code": "shop~" + long}, http.StatusBadRequest, "invalid_code")
	if n := e.c2s.Load(); n != 0 {
		t.Fatalf("%d code2session calls for codes refused unread", n)
	}
}
