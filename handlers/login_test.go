package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/crypto/hostcode"
)

// Every login and bind flow end to end: real HTTP, real wxsim, real store.
func TestLoginFlows(t *testing.T) {
	e := startLogin(t)
	// "shop": bind-only, rules unionid, openid, phone; "club": registers.
	shopAppID := e.wechatApp("shop", "platform-1", map[string]any{"match_rules": []string{"unionid", "openid", "phone"}})
	clubAppID := e.wechatApp("club", "", map[string]any{"on_no_match": "register", "match_rules": []string{"openid", "phone", "email"}})

	t.Run("social bind by password, then returning user", func(t *testing.T) {
		acc := e.account(map[string]any{"username": "alice", "password": "alice-password-1"})
		user := e.simUser("")
		out := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(shopAppID, user)}, 200, "")
		if out["status"] != "SOCIAL_BIND" || !strings.HasPrefix(out["bind_ticket"].(string), "bbt.") || out["expires_in"] != float64(600) {
			t.Fatalf("login: %v", out)
		}
		ok := e.post("/v1/bind/password", map[string]any{"bind_ticket": out["bind_ticket"], "username": "ALICE", "password": "alice-password-1"}, 200, "")
		if ok["status"] != "OK" || ok["account_id"] != acc || ok["id_token"] == "" || ok["session_token"] == "" || ok["token_type"] != "Bearer" {
			t.Fatalf("bind: %v", ok)
		}
		sees := e.simSees(shopAppID, user)
		read := e.read(acc, ok["_position"].(string))
		if !hasBinding(read, "openid", "shop", sees["openid"].(string)) || !hasBinding(read, "unionid", "shop", sees["unionid"].(string)) {
			t.Fatalf("bindings after bind: %v", read["bindings"])
		}
		// The ticket is spent.
		e.post("/v1/bind/password", map[string]any{"bind_ticket": out["bind_ticket"], "username": "alice", "password": "alice-password-1"}, 410, "ticket_used")
		// A returning user is logged in at once.
		again := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(shopAppID, user)}, 200, "")
		if again["status"] != "OK" || again["account_id"] != acc {
			t.Fatalf("returning login: %v", again)
		}
		// Code routing reaches the same app.
		routed := e.post("/v1/login/code", map[string]any{"code": "shop~" + e.code(shopAppID, user)}, 200, "")
		if routed["status"] != "OK" || routed["account_id"] != acc {
			t.Fatalf("routed login: %v", routed)
		}
	})

	t.Run("unionid spans the apps of one open platform", func(t *testing.T) {
		mallAppID := e.wechatApp("mall", "platform-1", nil)
		acc := e.account(map[string]any{"username": "uma", "password": "uma-password-12"})
		user := e.simUser("")
		out := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(shopAppID, user)}, 200, "")
		e.post("/v1/bind/password", map[string]any{"bind_ticket": out["bind_ticket"], "username": "uma", "password": "uma-password-12"}, 200, "")
		// Another app of the platform: a different openid, the same unionid.
		got := e.post("/v1/apps/mall/login/code", map[string]any{"code": e.code(mallAppID, user)}, 200, "")
		if got["status"] != "OK" || got["account_id"] != acc {
			t.Fatalf("second app: %v", got)
		}
	})

	t.Run("user register, then profile", func(t *testing.T) {
		user := e.simUser("")
		out := e.post("/v1/apps/club/login/code", map[string]any{"code": e.code(clubAppID, user)}, 200, "")
		if out["status"] != "USER_REGISTER" {
			t.Fatalf("login: %v", out)
		}
		reg := e.post("/v1/register", map[string]any{"bind_ticket": out["bind_ticket"], "display_name": "Bo", "avatar_url": "https://img.example.com/bo.png"}, 200, "")
		if reg["status"] != "OK" {
			t.Fatalf("register: %v", reg)
		}
		read := e.read(reg["account_id"].(string), reg["_position"].(string))
		if read["display_name"] != "Bo" || !hasBinding(read, "openid", "club", e.simSees(clubAppID, user)["openid"].(string)) {
			t.Fatalf("registered account: %v", read)
		}
		again := e.post("/v1/apps/club/login/code", map[string]any{"code": e.code(clubAppID, user)}, 200, "")
		if again["status"] != "OK" || again["account_id"] != reg["account_id"] {
			t.Fatalf("after register: %v", again)
		}
	})

	t.Run("register needs a USER_REGISTER ticket", func(t *testing.T) {
		out := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(shopAppID, e.simUser(""))}, 200, "")
		e.post("/v1/register", map[string]any{"bind_ticket": out["bind_ticket"], "display_name": "X"}, 403, "registration_closed")
	})

	t.Run("bind by sms one-time code", func(t *testing.T) {
		acc := e.account(map[string]any{"username": "olga", "phone": "+8613800000001"})
		out := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(shopAppID, e.simUser(""))}, 200, "")
		sent := e.post("/v1/bind/otp/send", map[string]any{"bind_ticket": out["bind_ticket"], "channel": "sms", "to": "+86 138 0000 0001"}, 202, "")
		if sent["expires_in"] != float64(300) {
			t.Fatalf("send: %v", sent)
		}
		otp := e.hook.last(t, "+8613800000001")
		ok := e.post("/v1/bind/otp/verify", map[string]any{"bind_ticket": out["bind_ticket"], "to": "+8613800000001", "otp": otp}, 200, "")
		if ok["status"] != "OK" || ok["account_id"] != acc {
			t.Fatalf("verify: %v", ok)
		}
	})

	t.Run("register by e-mail one-time code", func(t *testing.T) {
		out := e.post("/v1/apps/club/login/code", map[string]any{"code": e.code(clubAppID, e.simUser(""))}, 200, "")
		e.post("/v1/bind/otp/send", map[string]any{"bind_ticket": out["bind_ticket"], "channel": "email", "to": "Nia@Example.com"}, 202, "")
		otp := e.hook.last(t, "nia@example.com")
		ok := e.post("/v1/bind/otp/verify", map[string]any{"bind_ticket": out["bind_ticket"], "to": "nia@example.com", "otp": otp}, 200, "")
		read := e.read(ok["account_id"].(string), ok["_position"].(string))
		if ok["status"] != "OK" || read["email"] != "nia@example.com" {
			t.Fatalf("registered by otp: %v %v", ok, read)
		}
	})

	t.Run("bind by WeChat phone", func(t *testing.T) {
		acc := e.account(map[string]any{"username": "pia", "phone": "+8613800000002"})
		user := e.simUser("+8613800000002")
		out := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(shopAppID, user)}, 200, "")
		// shop matches phone only in login/phone: a code login does not know it.
		if out["status"] != "SOCIAL_BIND" {
			t.Fatalf("login: %v", out)
		}
		ok := e.post("/v1/bind/phone", map[string]any{"bind_ticket": out["bind_ticket"], "phone_code": e.phoneCode(shopAppID, user)}, 200, "")
		if ok["status"] != "OK" || ok["account_id"] != acc {
			t.Fatalf("bind phone: %v", ok)
		}
	})

	t.Run("register by WeChat phone", func(t *testing.T) {
		user := e.simUser("+8613800000003")
		out := e.post("/v1/apps/club/login/code", map[string]any{"code": e.code(clubAppID, user)}, 200, "")
		ok := e.post("/v1/bind/phone", map[string]any{"bind_ticket": out["bind_ticket"], "phone_code": e.phoneCode(clubAppID, user)}, 200, "")
		read := e.read(ok["account_id"].(string), ok["_position"].(string))
		if read["phone"] != "+8613800000003" {
			t.Fatalf("registered by phone: %v", read)
		}
		// A SOCIAL_BIND ticket and nobody on the number: account_not_found.
		other := e.simUser("+8613800000004")
		out = e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(shopAppID, other)}, 200, "")
		e.post("/v1/bind/phone", map[string]any{"bind_ticket": out["bind_ticket"], "phone_code": e.phoneCode(shopAppID, other)}, 404, "account_not_found")
	})

	t.Run("phone login with login code back-fills, then rule 1 matches", func(t *testing.T) {
		acc := e.account(map[string]any{"username": "quin", "phone": "+8613800000005"})
		user := e.simUser("+8613800000005")
		// Without the login code: found by phone (rule 3), nothing to back-fill but the phone.
		ok := e.post("/v1/apps/shop/login/phone", map[string]any{"code": e.phoneCode(shopAppID, user)}, 200, "")
		if ok["status"] != "OK" || ok["account_id"] != acc {
			t.Fatalf("phone login: %v", ok)
		}
		// With it: rule 3 finds the account, rules 1 and 2 are back-filled.
		ok = e.post("/v1/apps/shop/login/phone", map[string]any{"code": e.phoneCode(shopAppID, user), "login_code": e.code(shopAppID, user)}, 200, "")
		if ok["status"] != "OK" || ok["account_id"] != acc {
			t.Fatalf("phone login with login code: %v", ok)
		}
		sees := e.simSees(shopAppID, user)
		read := e.read(acc, ok["_position"].(string))
		if !hasBinding(read, "unionid", "shop", sees["unionid"].(string)) || !hasBinding(read, "openid", "shop", sees["openid"].(string)) {
			t.Fatalf("back-fill: %v", read["bindings"])
		}
		// The next code login matches on rule 1 (unionid).
		next := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(shopAppID, user)}, 200, "")
		if next["status"] != "OK" || next["account_id"] != acc {
			t.Fatalf("after back-fill: %v", next)
		}
		if rule := lastLoginRule(t, e, acc); rule != "unionid" {
			t.Fatalf("matched rule %q, want unionid", rule)
		}
		// A bind-only app and an unknown number: account_not_found.
		stranger := e.simUser("+8613800000006")
		e.post("/v1/apps/shop/login/phone", map[string]any{"code": e.phoneCode(shopAppID, stranger)}, 404, "account_not_found")
		// A registering app: USER_REGISTER with a ticket holding the phone.
		reg := e.post("/v1/apps/club/login/phone", map[string]any{"code": e.phoneCode(clubAppID, stranger)}, 200, "")
		if reg["status"] != "USER_REGISTER" {
			t.Fatalf("club phone login: %v", reg)
		}
		done := e.post("/v1/register", map[string]any{"bind_ticket": reg["bind_ticket"], "display_name": "Stranger"}, 200, "")
		if read := e.read(done["account_id"].(string), done["_position"].(string)); read["phone"] != "+8613800000006" {
			t.Fatalf("registered from phone login: %v", read)
		}
	})

	t.Run("host codes", func(t *testing.T) {
		secret := "host-secret-0123456789abcdef"
		r := e.Admin("PUT", "/v1/apps/partner", map[string]any{"kind": "host", "host": map[string]any{"secret": secret}, "on_no_match": "register"})
		if r.Status != http.StatusCreated {
			t.Fatalf("put host app: %d %s", r.Status, r.Body)
		}
		acc := e.account(map[string]any{"username": "hank", "external_id": "H-100"})
		now := e.clock.Now()
		code := hostcode.Mint([]byte(secret), "H-100", now.Add(time.Minute), hostcode.NewNonce())
		ok := e.post("/v1/apps/partner/login/code", map[string]any{"code": code}, 200, "")
		if ok["status"] != "OK" || ok["account_id"] != acc {
			t.Fatalf("host login: %v", ok)
		}
		// Single use, although the signature still holds.
		e.post("/v1/apps/partner/login/code", map[string]any{"code": code}, 400, "code_used")
		// Through code routing, with a fresh code; found by the host uid binding now.
		ok = e.post("/v1/login/code", map[string]any{"code": "partner~" + hostcode.Mint([]byte(secret), "H-100", now.Add(time.Minute), hostcode.NewNonce())}, 200, "")
		if ok["account_id"] != acc || !hasBinding(e.read(acc, ok["_position"].(string)), "host_uid", "partner", "H-100") {
			t.Fatalf("routed host login: %v", ok)
		}
		// A new host user registers; external_id becomes the host uid.
		out := e.post("/v1/apps/partner/login/code", map[string]any{"code": hostcode.Mint([]byte(secret), "H-200", now.Add(time.Minute), hostcode.NewNonce())}, 200, "")
		if out["status"] != "USER_REGISTER" {
			t.Fatalf("new host user: %v", out)
		}
		reg := e.post("/v1/register", map[string]any{"bind_ticket": out["bind_ticket"], "display_name": "Host user"}, 200, "")
		if read := e.read(reg["account_id"].(string), reg["_position"].(string)); read["external_id"] != "H-200" {
			t.Fatalf("host registration: %v", read)
		}
		// Forged, expired and too-long codes.
		e.post("/v1/apps/partner/login/code", map[string]any{"code": hostcode.Mint([]byte("another-secret-0123456789"), "H-100", now.Add(time.Minute), hostcode.NewNonce())}, 400, "invalid_code")
		e.post("/v1/apps/partner/login/code", map[string]any{"code": hostcode.Mint([]byte(secret), "H-100", now.Add(-time.Second), hostcode.NewNonce())}, 400, "code_expired")
		e.post("/v1/apps/partner/login/code", map[string]any{"code": hostcode.Mint([]byte(secret), "H-100", now.Add(time.Hour), hostcode.NewNonce())}, 400, "code_expired")
		e.post("/v1/apps/partner/login/code", map[string]any{"code": "not.a-code"}, 400, "invalid_code")
		e.post("/v1/apps/partner/login/phone", map[string]any{"code": "x"}, 400, "unsupported_app_kind")
	})
}

// lastLoginRule is the match rule of the account's latest login_succeeded.
func lastLoginRule(t *testing.T, e *loginEnv, accountID string) string {
	t.Helper()
	rule := ""
	for _, rec := range allRecords(t, e) {
		if rec.Envelope.Type == "bindery.login_succeeded.v1" && strings.Contains(string(rec.Envelope.Data), accountID) {
			m := map[string]any{}
			decodeJSON(t, rec.Envelope.Data, &m)
			rule, _ = m["rule"].(string)
		}
	}
	return rule
}
