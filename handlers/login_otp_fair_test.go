package handlers_test

import (
	"testing"

	"github.com/bindery/bindery/domain/login"
)

// Issue 13 finding 4 over the real server: several WeChat users of an
// attacker send codes to the victim's phone up to the limits; the victim's
// own ticket still gets a code and binds; the number's ceiling bounds the
// SMS sent to it.
func TestOTPStrangersCannotLockOutTheOwner(t *testing.T) {
	e := startLogin(t)
	shop := e.wechatApp("shop", "", nil)
	const victim = "+8613900000077"
	acc := e.account(map[string]any{"username": "vic", "phone": victim})
	ticket := func(user string) any {
		return e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(shop, user)}, 200, "")["bind_ticket"]
	}
	sendTo := func(user string, status int, code string) map[string]any {
		return e.post("/v1/bind/otp/send", map[string]any{"bind_ticket": ticket(user), "channel": "sms", "to": victim}, status, code)
	}
	attackers := []string{e.simUser(""), e.simUser(""), e.simUser(""), e.simUser("")}
	sent := 0
	for sent < login.OTPAddressSendsPerHour {
		for _, a := range attackers {
			if sent < login.OTPAddressSendsPerHour {
				sendTo(a, 202, "")
				sent++
			}
		}
		e.clock.Advance(login.OTPSendGap)
	}
	// Each attacker is held to its share, then to the address's shared budget.
	for _, a := range attackers {
		r := e.Do("POST", "/v1/bind/otp/send", map[string]any{"bind_ticket": ticket(a), "channel": "sms", "to": victim})
		if r.Status != 429 || r.Header.Get("Retry-After") == "" || r.Map(t)["code"] != "rate_limited" {
			t.Fatalf("attacker over the limits: %d %s (Retry-After %q)", r.Status, r.Body, r.Header.Get("Retry-After"))
		}
	}

	// The victim's own ticket still gets a code, and binds with it.
	vic := e.simUser("")
	tk := ticket(vic)
	e.post("/v1/bind/otp/send", map[string]any{"bind_ticket": tk, "channel": "sms", "to": victim}, 202, "")
	sent++
	ok := e.post("/v1/bind/otp/verify", map[string]any{"bind_ticket": tk, "to": victim, "otp": e.hook.last(t, victim)}, 200, "")
	if ok["status"] != "OK" || ok["account_id"] != acc {
		t.Fatalf("the victim's bind: %v", ok)
	}

	// Cost: fresh attacker identities get one code each until the
	// number's ceiling; then no one gets more this hour.
	for sent < login.OTPAddressMaxPerHour {
		sendTo(e.simUser(""), 202, "")
		sent++
	}
	sendTo(e.simUser(""), 429, "rate_limited")
	e.hook.mu.Lock()
	n := len(e.hook.codes[victim])
	e.hook.mu.Unlock()
	if n != login.OTPAddressMaxPerHour {
		t.Fatalf("%d SMS went to the number, want the ceiling %d", n, login.OTPAddressMaxPerHour)
	}
}
