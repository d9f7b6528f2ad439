package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// Apps: strict bodies, write-only secrets, reads after writes.
func TestApps(t *testing.T) {
	env := testenv.Start(t, "", nil)
	body := `{"name":"Shop","kind":"wechat","wechat":{"appid":"wx123","secret":"s3cr3t-value"},
		"match_rules":["unionid","openid","phone"],"on_no_match":"register",
		"field_mapping":{"empNo":"external_id","mobile":"phone"},"qr":{"mode":"wxacode"}}`
	r := env.Admin("PUT", "/v1/apps/shop", body)
	if r.Status != http.StatusCreated || r.Header.Get("X-Bindery-Position") == "" || r.Header.Get("Location") != "/v1/apps/shop" {
		t.Fatalf("create: %d %v %s", r.Status, r.Header, r.Body)
	}
	got := env.Admin("GET", "/v1/apps/shop?min_position="+r.Header.Get("X-Bindery-Position"), nil)
	if got.Status != 200 || strings.Contains(string(got.Body), "s3cr3t") || strings.Contains(string(got.Body), "sealed") {
		t.Fatalf("read: %d %s", got.Status, got.Body)
	}
	m := got.Map(t)
	wx := m["wechat"].(map[string]any)
	qr := m["qr"].(map[string]any)
	if m["id"] != "shop" || m["kind"] != "wechat" || wx["appid"] != "wx123" || wx["secret_set"] != true ||
		m["on_no_match"] != "register" || qr["page"] != "pages/auth/auth" || m["account_source"].(map[string]any)["mode"] != "local" ||
		m["field_mapping"].(map[string]any)["mobile"] != "phone" || m["created_at"] == nil {
		t.Fatalf("read: %s", got.Body)
	}
	// An update without the secret keeps it; the same body again is a no-op.
	up := env.Admin("PUT", "/v1/apps/shop", `{"kind":"wechat","wechat":{"appid":"wx123"},"match_rules":["openid"]}`)
	if up.Status != 200 || up.Map(t)["wechat"].(map[string]any)["secret_set"] != true {
		t.Fatalf("update: %d %s", up.Status, up.Body)
	}
	same := env.Admin("PUT", "/v1/apps/shop", `{"kind":"wechat","wechat":{"appid":"wx123","secret":"s3cr3t-value"},"match_rules":["openid"]}`)
	// Nothing is appended: the answer names the app's last event again.
	if same.Status != 200 || same.Header.Get("X-Bindery-Position") != up.Header.Get("X-Bindery-Position") {
		t.Fatalf("no-op update: %d %v", same.Status, same.Header)
	}
	// A host app with a verify source.
	host := env.Admin("PUT", "/v1/apps/partner", `{"kind":"host","host":{"secret":"0123456789abcdef0123"},"account_source":{"mode":"verify","url":"https://erp.example.com/v","secret":"verify-secret-0123"}}`)
	if host.Status != 201 {
		t.Fatalf("host app: %d %s", host.Status, host.Body)
	}
	hm := host.Map(t)
	if hm["host"].(map[string]any)["secret_set"] != true || hm["account_source"].(map[string]any)["secret_set"] != true || hm["wechat"] != nil {
		t.Fatalf("host app read: %s", host.Body)
	}

	cases := []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"unknown field", "/v1/apps/x1", `{"kind":"host","host":{"secret":"0123456789abcdef"},"colour":"red"}`, 400, "validation_failed"},
		{"unknown nested field", "/v1/apps/x1", `{"kind":"wechat","wechat":{"appid":"wx1","secret":"s","token":"t"}}`, 400, "validation_failed"},
		{"bad slug", "/v1/apps/Bad_Id", `{"kind":"host","host":{"secret":"0123456789abcdef"}}`, 400, "validation_failed"},
		{"one-character slug", "/v1/apps/a", `{"kind":"host","host":{"secret":"0123456789abcdef"}}`, 400, "validation_failed"},
		{"id differs", "/v1/apps/x1", `{"id":"x2","kind":"host","host":{"secret":"0123456789abcdef"}}`, 400, "validation_failed"},
		{"no kind", "/v1/apps/x1", `{}`, 400, "validation_failed"},
		{"bad kind", "/v1/apps/x1", `{"kind":"qq"}`, 400, "validation_failed"},
		{"wechat without block", "/v1/apps/x1", `{"kind":"wechat"}`, 400, "validation_failed"},
		{"wechat with host block", "/v1/apps/x1", `{"kind":"wechat","wechat":{"appid":"wx1","secret":"s"},"host":{"secret":"0123456789abcdef"}}`, 400, "validation_failed"},
		{"missing secret", "/v1/apps/x1", `{"kind":"wechat","wechat":{"appid":"wx1"}}`, 400, "validation_failed"},
		{"short host secret", "/v1/apps/x1", `{"kind":"host","host":{"secret":"short"}}`, 400, "validation_failed"},
		{"secret with newline", "/v1/apps/x1", `{"kind":"wechat","wechat":{"appid":"wx1","secret":"a\nb"}}`, 400, "validation_failed"},
		{"bad rule", "/v1/apps/x1", `{"kind":"host","host":{"secret":"0123456789abcdef"},"match_rules":["qq"]}`, 400, "validation_failed"},
		{"duplicate rule", "/v1/apps/x1", `{"kind":"host","host":{"secret":"0123456789abcdef"},"match_rules":["phone","phone"]}`, 400, "validation_failed"},
		{"bad on_no_match", "/v1/apps/x1", `{"kind":"host","host":{"secret":"0123456789abcdef"},"on_no_match":"maybe"}`, 400, "validation_failed"},
		{"verify without url", "/v1/apps/x1", `{"kind":"host","host":{"secret":"0123456789abcdef"},"account_source":{"mode":"verify","secret":"0123456789abcdef"}}`, 400, "validation_failed"},
		{"verify without secret", "/v1/apps/x1", `{"kind":"host","host":{"secret":"0123456789abcdef"},"account_source":{"mode":"verify","url":"https://x.example"}}`, 400, "validation_failed"},
		{"local with secret", "/v1/apps/x1", `{"kind":"host","host":{"secret":"0123456789abcdef"},"account_source":{"mode":"local","secret":"0123456789abcdef"}}`, 400, "validation_failed"},
		{"source without mode", "/v1/apps/x1", `{"kind":"host","host":{"secret":"0123456789abcdef"},"account_source":{}}`, 400, "validation_failed"},
		{"bad mapping", "/v1/apps/x1", `{"kind":"host","host":{"secret":"0123456789abcdef"},"field_mapping":{"a":"salary"}}`, 400, "validation_failed"},
		{"bad qr page", "/v1/apps/x1", `{"kind":"host","host":{"secret":"0123456789abcdef"},"qr":{"mode":"link","page":"/x?y"}}`, 400, "validation_failed"},
		{"wxacode for host", "/v1/apps/x1", `{"kind":"host","host":{"secret":"0123456789abcdef"},"qr":{"mode":"wxacode"}}`, 400, "validation_failed"},
		{"rules not a list", "/v1/apps/x1", `{"kind":"host","host":{"secret":"0123456789abcdef"},"match_rules":"openid"}`, 400, "validation_failed"},
		{"kind change without secret", "/v1/apps/shop", `{"kind":"host"}`, 400, "validation_failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := env.Admin("PUT", c.path, c.body)
			if r.Status != c.status || r.Map(t)["code"] != c.code {
				t.Fatalf("PUT %s %s: %d %s", c.path, c.body, r.Status, r.Body)
			}
		})
	}
	for _, c := range []struct {
		method, path string
		auth         bool
		status       int
		code         string
	}{
		{"GET", "/v1/apps/nope", true, 404, "app_not_found"},
		{"GET", "/v1/apps/NOPE", true, 404, "app_not_found"},
		{"GET", "/v1/apps/shop", false, 401, "unauthorized"},
		{"PUT", "/v1/apps/shop", false, 401, "unauthorized"},
	} {
		var r testenv.Response
		if c.auth {
			r = env.Admin(c.method, c.path, nil)
		} else {
			r = env.Do(c.method, c.path, `{}`)
		}
		if r.Status != c.status || r.Map(t)["code"] != c.code {
			t.Fatalf("%s %s: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
}
