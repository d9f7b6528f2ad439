package handlers_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/crypto/hostcode"
)

// FuzzDecodeLoginRequest sends arbitrary bodies to the login and bind
// endpoints of a real server (with a real wxsim behind it): whatever the
// body, the answer is never a 5xx, and errors are problem+json.
func FuzzDecodeLoginRequest(f *testing.F) {
	e := startLogin(f)
	shop := e.wechatApp("shop", "", map[string]any{"on_no_match": "register"})
	secret := "host-secret-0123456789abcdef"
	if r := e.Admin("PUT", "/v1/apps/hq", map[string]any{"kind": "host", "host": map[string]any{"secret": secret}}); r.Status != 201 {
		f.Fatalf("host app: %d %s", r.Status, r.Body)
	}
	routes := []string{
		"/v1/apps/shop/login/code", "/v1/login/code", "/v1/apps/shop/login/phone", "/v1/apps/hq/login/code",
		"/v1/bind/phone", "/v1/bind/otp/send", "/v1/bind/otp/verify", "/v1/bind/password", "/v1/register",
	}
	ticket := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(shop, e.simUser(""))}, 200, "")["bind_ticket"].(string)
	seeds := []string{
		`{"code":"` + e.code(shop, e.simUser("")) + `"}`,
		`{"code":"shop~abc"}`, `{"code":"~"}`, `{"code":"shop~"}`,
		`{"code":"` + hostcode.Mint([]byte(secret), "U1", time.Now().Add(time.Minute), hostcode.NewNonce()) + `"}`,
		`{"code":"x","login_code":"y"}`,
		`{"bind_ticket":"` + ticket + `","phone_code":"abc"}`,
		`{"bind_ticket":"` + ticket + `","channel":"sms","to":"+8613800000000"}`,
		`{"bind_ticket":"` + ticket + `","to":"a@b.co","otp":"000000"}`,
		`{"bind_ticket":"` + ticket + `","username":"u","password":"p"}`,
		`{"bind_ticket":"` + ticket + `","display_name":"D","avatar_url":"javascript:x"}`,
		`{"bind_ticket":"bbt.` + "\u0000" + `"}`, `[]`, `null`, `{"code":null}`, `{"code":{}}`, "\xff", `{"code":"a"}{"code":"b"}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	client := &http.Client{Timeout: 20 * time.Second}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := routes[int(route)%len(routes)]
		resp, err := client.Post(e.URL+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("POST %s %q: status %d", path, body, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && ct != "application/problem+json" {
			t.Fatalf("POST %s %q: %d with content type %q", path, body, resp.StatusCode, ct)
		}
	})
}
