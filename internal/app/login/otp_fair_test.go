package login_test

import (
	"fmt"
	"testing"

	"github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	applogin "github.com/bindery/bindery/internal/app/login"
)

// Issue 13 finding 4: strangers with their own tickets (several WeChat
// users) send codes to the owner's phone up to the limits; the owner's own
// ticket still gets a code and binds, and the address's ceiling bounds the
// SMS sent to the number.
func TestOTPStrangersCannotLockOutTheOwner(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.given(events.AggregateAccount, "acc-v", events.AccountCreated{AccountID: "acc-v", Phone: phone})
	to := login.Contact{Channel: "sms", Address: phone}
	codes := 0
	issue := func(openid string) string {
		codes++
		return f.socialBindAs(fmt.Sprintf("c%d", codes), openid)
	}
	sendWith := func(ticket string) error {
		_, _, err := f.login.SendOTP.Handle(f.ctx, events.Meta{}, applogin.SendOTP{Ticket: ticket, Channel: "sms", To: phone})
		return err
	}
	send := func(openid string) error { return sendWith(issue(openid)) }
	refused := func(openid string) {
		t.Helper()
		ticket := issue(openid)
		f.when()
		f.thenError(sendWith(ticket), "rate_limited") // and nothing stored
	}
	// Rounds a minute apart: each stranger sends its share, the shared
	// budget runs out.
	sent := 0
	for round := 0; sent < login.OTPAddressSendsPerHour; round++ {
		for s := 0; s < 4 && sent < login.OTPAddressSendsPerHour; s++ {
			if err := send(fmt.Sprintf("evil-%d", s)); err != nil {
				t.Fatalf("round %d, stranger %d: %v", round, s, err)
			}
			sent++
		}
		f.now = f.now.Add(login.OTPSendGap)
	}
	// A stranger over its share, with a fresh ticket: refused, nothing stored.
	refused("evil-0")
	// A stranger with a code this hour, past the shared budget: refused.
	refused("evil-3")

	// The owner's own ticket gets a code ...
	ticket := f.socialBindAs("owner-c1", "o-victim")
	th := ticketHash(ticket)
	f.when()
	if _, _, err := f.login.SendOTP.Handle(f.ctx, events.Meta{}, applogin.SendOTP{Ticket: ticket, Channel: "sms", To: phone}); err != nil {
		t.Fatalf("the owner's send: %v", err)
	}
	f.then(
		events.TicketOTPRequested{Channel: "sms", ToHash: to.Hash([]byte("otp-key"))},
		events.OTPSent{App: "shop", Channel: "sms", To: "+86138****8000", Ticket: th, Requester: login.RequesterID(events.ProvenIdentity{App: "shop", OpenID: "o-victim"}, th), CodeHash: "*", ExpiresAt: f.now.Add(login.OTPTTL)},
	)
	sent++
	// ... and binds with it.
	f.when()
	out, _, err := f.login.VerifyOTP.Handle(f.ctx, events.Meta{}, applogin.VerifyOTP{Ticket: ticket, To: phone, OTP: f.sender.last().Code})
	if err != nil || out.AccountID != "acc-v" {
		t.Fatalf("the owner's verify: %+v %v", out, err)
	}
	f.then(
		events.OTPVerified{Ticket: th},
		events.IdentityBound{AccountID: "acc-v", BoundIdentity: events.NewBoundIdentity("openid", "shop", "o-victim"), Method: "bind_otp"},
		events.LoginSucceeded{App: "shop", AccountID: "acc-v", Method: "bind_otp", SessionID: "*"},
		f.session("acc-v", "shop", "wechat", "sms"),
	)

	// Cost: new strangers get one code each, up to the address's ceiling.
	for s := 10; sent < login.OTPAddressMaxPerHour; s++ {
		if err := send(fmt.Sprintf("evil-%d", s)); err != nil {
			t.Fatalf("stranger %d's first code: %v", s, err)
		}
		sent++
	}
	refused("evil-99")
	n := 0
	for _, m := range f.sender.sent {
		if m.To == phone {
			n++
		}
	}
	if n != login.OTPAddressMaxPerHour {
		t.Fatalf("%d codes went to the number in the hour, want the ceiling %d", n, login.OTPAddressMaxPerHour)
	}
}

// One ticket cannot exceed its own budget: one code a minute, five an
// hour, and a requester's share of any one address.
func TestOTPTicketBudget(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	ticket := f.socialBindAs("c1", "evil")
	send := func(to string) error {
		_, _, err := f.login.SendOTP.Handle(f.ctx, events.Meta{}, applogin.SendOTP{Ticket: ticket, Channel: "sms", To: to})
		return err
	}
	for i := 0; i < login.OTPRequesterSendsPerHour; i++ {
		if err := send(phone); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		f.when()
		f.thenError(send("+8613900000009"), "rate_limited") // the ticket's gap, whatever the address
		f.now = f.now.Add(login.OTPSendGap)
	}
	f.when()
	f.thenError(send(phone), "rate_limited") // the requester's share of the address
	for i := login.OTPRequesterSendsPerHour; i < login.OTPSendsPerHour; i++ {
		if err := send(fmt.Sprintf("+861390000000%d", i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		f.now = f.now.Add(login.OTPSendGap)
	}
	f.when()
	f.thenError(send("+8613900000008"), "rate_limited") // the ticket's hourly budget
	if n := len(f.sender.sent); n != login.OTPSendsPerHour {
		t.Fatalf("%d codes sent through one ticket, want %d", n, login.OTPSendsPerHour)
	}
}
