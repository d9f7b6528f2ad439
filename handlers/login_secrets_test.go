package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/crypto/hostcode"
)

// No secret the flows handled — app secrets, the verify secret, passwords,
// one-time codes, bind tickets, session and id tokens, WeChat
// session_keys — appears in any stored event (both streams, claims
// included), in the logs, or in an app read.
func TestNoSecretsStoredOrLogged(t *testing.T) {
	e := startLogin(t)
	var secrets []string
	keep := func(s string) string { secrets = append(secrets, s); return s }

	appid := "wxsecretscan"
	wxSecret := keep("wx-app-secret-" + "5e3f1a")
	verifySecret := keep("verify-secret-" + "0c9d7b2a11")
	e.simApp(appid, wxSecret, "")
	r := e.Admin("PUT", "/v1/apps/scan", map[string]any{
		"kind": "wechat", "wechat": map[string]any{"appid": appid, "secret": wxSecret}, "on_no_match": "register",
		"account_source": map[string]any{"mode": "verify", "url": "https://erp.example.com/verify", "secret": verifySecret},
	})
	if r.Status != 201 {
		t.Fatalf("put app: %d %s", r.Status, r.Body)
	}
	// The verify source is for password binds; switch it back to local
	// so that the local password below is what is checked.
	if r := e.Admin("PUT", "/v1/apps/scan", map[string]any{"kind": "wechat", "wechat": map[string]any{"appid": appid}, "on_no_match": "register", "match_rules": []string{"openid", "phone"}}); r.Status != 200 {
		t.Fatalf("update app: %d %s", r.Status, r.Body)
	}
	hostSecret := keep("host-secret-" + "77aa99bb33cc")
	if r := e.Admin("PUT", "/v1/apps/scanhost", map[string]any{"kind": "host", "host": map[string]any{"secret": hostSecret}}); r.Status != 201 {
		t.Fatalf("put host app: %d %s", r.Status, r.Body)
	}
	for _, id := range []string{"scan", "scanhost"} {
		g := e.Admin("GET", "/v1/apps/"+id, nil)
		if g.Status != 200 || !strings.Contains(string(g.Body), `"secret_set":true`) {
			t.Fatalf("get %s: %d %s", id, g.Status, g.Body)
		}
		for _, s := range secrets {
			if strings.Contains(string(g.Body), s) {
				t.Fatalf("GET /v1/apps/%s shows a secret", id)
			}
		}
	}

	pw := keep("pass-" + "word-91af3c")
	e.account(map[string]any{"username": "sally", "password": pw, "phone": "+8613700000001"})
	tokens := func(m map[string]any) {
		for _, k := range []string{"bind_ticket", "session_token", "id_token"} {
			if v, ok := m[k].(string); ok && v != "" {
				keep(v)
			}
		}
	}
	// Password bind.
	u1 := e.simUser("")
	out := e.post("/v1/apps/scan/login/code", map[string]any{"code": e.code(appid, u1)}, 200, "")
	tokens(out)
	e.post("/v1/bind/password", map[string]any{"bind_ticket": out["bind_ticket"], "username": "sally", "password": "wrong-" + pw}, 401, "")
	tokens(e.post("/v1/bind/password", map[string]any{"bind_ticket": out["bind_ticket"], "username": "sally", "password": pw}, 200, ""))
	tokens(e.post("/v1/apps/scan/login/code", map[string]any{"code": e.code(appid, u1)}, 200, ""))
	// OTP bind, with a wrong code first.
	out = e.post("/v1/apps/scan/login/code", map[string]any{"code": e.code(appid, e.simUser(""))}, 200, "")
	tokens(out)
	e.post("/v1/bind/otp/send", map[string]any{"bind_ticket": out["bind_ticket"], "channel": "sms", "to": "+8613700000001"}, 202, "")
	otp := e.hook.last(t, "+8613700000001")
	wrong := "000000"
	if otp == wrong {
		wrong = "111111"
	}
	e.post("/v1/bind/otp/verify", map[string]any{"bind_ticket": out["bind_ticket"], "to": "+8613700000001", "otp": wrong}, 400, "invalid_otp")
	tokens(e.post("/v1/bind/otp/verify", map[string]any{"bind_ticket": out["bind_ticket"], "to": "+8613700000001", "otp": otp}, 200, ""))
	// Phone login with a login code: found by phone, the openid back-filled.
	u3 := e.simUser("+8613700000001")
	tokens(e.post("/v1/apps/scan/login/phone", map[string]any{"code": e.phoneCode(appid, u3), "login_code": e.code(appid, u3)}, 200, ""))
	// Phone login of a stranger, and registration.
	u2 := e.simUser("+8613700000002")
	out = e.post("/v1/apps/scan/login/phone", map[string]any{"code": e.phoneCode(appid, u2), "login_code": e.code(appid, u2)}, 200, "")
	tokens(out)
	tokens(e.post("/v1/register", map[string]any{"bind_ticket": out["bind_ticket"], "display_name": "Reg"}, 200, ""))
	// Host login.
	tokens(e.post("/v1/apps/scanhost/login/code", map[string]any{"code": hostcode.Mint([]byte(hostSecret), "S1", time.Now().Add(time.Minute), hostcode.NewNonce())}, 200, ""))

	e.mu.Lock()
	secrets = append(secrets, e.sessionKeys...)
	nKeys := len(e.sessionKeys)
	e.mu.Unlock()
	if nKeys < 4 {
		t.Fatalf("captured %d session keys", nKeys)
	}
	var otps []string
	e.hook.mu.Lock()
	otps = append(otps, e.hook.all...)
	e.hook.mu.Unlock()

	recs := allRecords(t, e)
	if len(recs) < 20 {
		t.Fatalf("only %d stored messages", len(recs))
	}
	logs := e.Logs.String()
	scan := func(where, text string) {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a secret (%.12s…)", where, s)
			}
		}
		for _, o := range otps {
			for _, form := range []string{`"` + o + `"`, "=" + o, " " + o + " "} {
				if strings.Contains(text, form) {
					t.Errorf("%s holds a one-time code", where)
				}
			}
		}
	}
	for _, m := range recs {
		scan(m.Stream+" "+m.Subject, string(m.Data))
	}
	scan("the logs", logs)
	// The checks have teeth: what was scanned holds what the flows did.
	for _, want := range []string{"bindery.otp_sent.v1", "bindery.identity_bound.v1", "bindery.login_succeeded.v1", "bindery.app_registered.v1", "bindery.account_registered.v1", "bindery.attributes_backfilled.v1", "bindery.otp_failed.v1", "bindery.login_failed.v1"} {
		found := false
		for _, m := range recs {
			found = found || m.Envelope.Type == want
		}
		if !found {
			t.Errorf("no %s stored", want)
		}
	}
	if !strings.Contains(logs, "/v1/bind/otp/verify") {
		t.Error("the captured logs do not show the requests")
	}
}
