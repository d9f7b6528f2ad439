package login_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/app/accounts"
	applogin "github.com/bindery/bindery/internal/app/login"
	"github.com/bindery/bindery/internal/crypto/password"
)

const phone = "+8613800138000"

// socialBind logs o1 in at shop with no account: a SOCIAL_BIND (or
// USER_REGISTER) ticket.
func (f *fixture) socialBind(code string) string { return f.socialBindAs(code, "o1") }

func (f *fixture) socialBindAs(code, openid string) string {
	f.t.Helper()
	f.wechat.sessions[code] = wechat.Session{OpenID: openid}
	out, err := f.codeLogin("shop", code)
	if err != nil || out.BindTicket == "" {
		f.t.Fatalf("login: %+v %v", out, err)
	}
	return out.BindTicket
}

func TestPhoneLogin(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"phone", "openid"}, "bind")
	f.given(events.AggregateAccount, "acc-p", events.AccountCreated{AccountID: "acc-p", Phone: phone})
	f.wechat.phones["p1"] = phone
	f.wechat.sessions["c1"] = wechat.Session{OpenID: "o1"}

	f.when()
	out, _, err := f.login.Phone.Handle(f.ctx, events.Meta{}, applogin.PhoneLogin{App: "shop", PhoneCode: "p1", LoginCode: "c1"})
	if err != nil || out.AccountID != "acc-p" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	// The first rule matched: nothing to back-fill.
	f.then(
		events.LoginSucceeded{App: "shop", AccountID: "acc-p", Method: "phone", Rule: "phone", SessionID: "*"},
		events.CodeSpent{App: "shop", Method: "phone", Login: login.AttemptID("shop", "phone", "p1")},
		f.session("acc-p", "shop", "wechat", "phone"),
	)
	// Both codes are spent: neither reaches WeChat again.
	calls := f.wechat.calls
	f.when()
	_, _, err = f.login.Phone.Handle(f.ctx, events.Meta{}, applogin.PhoneLogin{App: "shop", PhoneCode: "p1"})
	f.thenError(err, "code_used")
	_, err = f.codeLogin("shop", "c1")
	f.thenError(err, "code_used")
	if f.wechat.calls != calls {
		t.Fatal("WeChat was asked about a spent code")
	}
}

// A phone login that matches nobody, at an app that does not register:
// account_not_found, recorded on both codes.
func TestPhoneLoginNoAccount(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"phone"}, "bind")
	f.wechat.phones["p1"] = phone
	f.wechat.sessions["c1"] = wechat.Session{OpenID: "o1"}
	f.when()
	_, _, err := f.login.Phone.Handle(f.ctx, events.Meta{}, applogin.PhoneLogin{App: "shop", PhoneCode: "p1", LoginCode: "c1"})
	f.thenError(err, "account_not_found",
		events.LoginFailed{App: "shop", Method: "phone", Reason: "account_not_found"},
		events.CodeSpent{App: "shop", Method: "phone", Login: login.AttemptID("shop", "phone", "p1")},
	)
}

func TestBindPhone(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.given(events.AggregateAccount, "acc-p", events.AccountCreated{AccountID: "acc-p", Phone: phone})
	ticket := f.socialBind("c1")
	f.wechat.phones["p1"] = phone

	f.when()
	out, _, err := f.login.BindPhone.Handle(f.ctx, events.Meta{}, applogin.BindPhone{Ticket: ticket, PhoneCode: "p1"})
	if err != nil || out.AccountID != "acc-p" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	f.then(
		events.IdentityBound{AccountID: "acc-p", BoundIdentity: events.NewBoundIdentity("openid", "shop", "o1"), Method: "bind_phone"},
		events.LoginSucceeded{App: "shop", AccountID: "acc-p", Method: "bind_phone", SessionID: "*"},
		f.session("acc-p", "shop", "wechat", "phone"),
	)
	// A wrong phone code counts against the ticket.
	ticket = f.socialBindAs("c2", "o2")
	f.when()
	_, _, err = f.login.BindPhone.Handle(f.ctx, events.Meta{}, applogin.BindPhone{Ticket: ticket, PhoneCode: "nope"})
	f.thenError(err, "invalid_code", events.TicketAttemptFailed{Method: "bind_phone", Reason: "invalid_code"})
}

// The identity was bound to another account after the ticket was issued:
// the bind's claim conflicts (already_bound) and nothing is stored.
func TestBindConflictAlreadyBound(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.given(events.AggregateAccount, "acc-p", events.AccountCreated{AccountID: "acc-p", Phone: phone})
	ticket := f.socialBind("c1")
	f.givenAccount("acc-o", "shop", "o1")
	f.wechat.phones["p1"] = phone

	f.when()
	_, _, err := f.login.BindPhone.Handle(f.ctx, events.Meta{}, applogin.BindPhone{Ticket: ticket, PhoneCode: "p1"})
	f.thenError(err, "already_bound")
}

// A USER_REGISTER ticket and nobody on the proven number: the bind
// registers the account.
func TestBindPhoneRegisters(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "register")
	ticket := f.socialBind("c1")
	f.wechat.phones["p1"] = phone
	f.when()
	out, _, err := f.login.BindPhone.Handle(f.ctx, events.Meta{}, applogin.BindPhone{Ticket: ticket, PhoneCode: "p1"})
	if err != nil || out.AccountID != "acc-1" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	f.then(
		events.AccountCreated{AccountID: "acc-1", Phone: phone, Source: "register"},
		events.IdentityBound{AccountID: "acc-1", BoundIdentity: events.NewBoundIdentity("openid", "shop", "o1"), Method: "bind_phone"},
		events.AccountRegistered{AccountID: "acc-1", App: "shop", Method: "bind_phone"},
		events.LoginSucceeded{App: "shop", AccountID: "acc-1", Method: "bind_phone", SessionID: "*"},
		f.session("acc-1", "shop", "wechat", "phone"),
	)
}

func TestBindPassword(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	hash, err := password.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := f.accounts.Box.Seal([]byte(hash), accounts.PasswordAAD)
	if err != nil {
		t.Fatal(err)
	}
	f.given(events.AggregateAccount, "acc-u", events.AccountCreated{AccountID: "acc-u", Username: "ada", PasswordSealed: sealed})
	ticket := f.socialBind("c1")

	// Wrong: counted on the account's guard and on the ticket.
	f.when()
	_, _, err = f.login.BindPassword.Handle(f.ctx, events.Meta{}, applogin.BindPassword{Ticket: ticket, Username: "Ada", Password: "wrong"})
	f.thenError(err, "invalid_credentials",
		events.LoginFailed{App: "shop", AccountID: "acc-u", Method: "bind_password", Reason: "wrong_password"},
		events.TicketAttemptFailed{Method: "bind_password", Reason: "wrong_password"},
	)
	// Unknown username: the same answer, and only the ticket counts it.
	f.when()
	_, _, err = f.login.BindPassword.Handle(f.ctx, events.Meta{}, applogin.BindPassword{Ticket: ticket, Username: "bob", Password: "wrong"})
	f.thenError(err, "invalid_credentials", events.TicketAttemptFailed{Method: "bind_password", Reason: "invalid_credentials"})

	f.when()
	out, _, err := f.login.BindPassword.Handle(f.ctx, events.Meta{}, applogin.BindPassword{Ticket: ticket, Username: "ada", Password: "correct horse battery"})
	if err != nil || out.AccountID != "acc-u" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	f.then(
		events.IdentityBound{AccountID: "acc-u", BoundIdentity: events.NewBoundIdentity("openid", "shop", "o1"), Method: "bind_password"},
		events.LoginSucceeded{App: "shop", AccountID: "acc-u", Method: "bind_password", SessionID: "*"},
		f.session("acc-u", "shop", "wechat", "pwd"),
	)
}

// A bind to a disabled account is refused by the account, whatever the
// view says.
func TestBindDisabledAccount(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.given(events.AggregateAccount, "acc-p", events.AccountCreated{AccountID: "acc-p", Phone: phone})
	ticket := f.socialBind("c1")
	f.view.freeze()
	f.given(events.AggregateAccount, "acc-p", events.AccountDisabled{AccountID: "acc-p"})
	f.wechat.phones["p1"] = phone
	f.when()
	_, _, err := f.login.BindPhone.Handle(f.ctx, events.Meta{}, applogin.BindPhone{Ticket: ticket, PhoneCode: "p1"})
	f.thenError(err, "account_disabled")
}

func TestOTPSendAndVerify(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.given(events.AggregateAccount, "acc-p", events.AccountCreated{AccountID: "acc-p", Phone: phone})
	ticket := f.socialBind("c1")
	th := ticketHash(ticket)
	to := login.Contact{Channel: "sms", Address: phone}

	f.when()
	ttl, _, err := f.login.SendOTP.Handle(f.ctx, events.Meta{}, applogin.SendOTP{Ticket: ticket, Channel: "sms", To: phone})
	if err != nil || ttl != 300 {
		t.Fatalf("send: %d %v", ttl, err)
	}
	f.then(
		events.TicketOTPRequested{Channel: "sms", ToHash: to.Hash([]byte("otp-key"))},
		events.OTPSent{App: "shop", Channel: "sms", To: "+86138****8000", Ticket: th, Requester: login.RequesterID(events.ProvenIdentity{App: "shop", OpenID: "o1"}, th), CodeHash: "*", ExpiresAt: f.now.Add(login.OTPTTL)},
	)
	sent := f.sender.last()
	if sent.To != phone || len(sent.Code) != 6 || sent.App != "shop" {
		t.Fatalf("sent %+v", sent)
	}
	// A second send within the minute is rate limited, and stores nothing.
	f.when()
	_, _, err = f.login.SendOTP.Handle(f.ctx, events.Meta{}, applogin.SendOTP{Ticket: ticket, Channel: "sms", To: phone})
	f.thenError(err, "rate_limited")

	wrong := "000000"
	if sent.Code == wrong {
		wrong = "111111"
	}
	f.when()
	_, _, err = f.login.VerifyOTP.Handle(f.ctx, events.Meta{}, applogin.VerifyOTP{Ticket: ticket, To: phone, OTP: wrong})
	f.thenError(err, "invalid_otp",
		events.OTPFailed{Ticket: th, TriesLeft: 4},
		events.TicketAttemptFailed{Method: "bind_otp", Reason: "invalid_otp"},
	)
	if !strings.Contains(err.Error(), "4 tries left") {
		t.Fatalf("error %v", err)
	}

	f.now = f.now.Add(time.Minute)
	f.when()
	out, _, err := f.login.VerifyOTP.Handle(f.ctx, events.Meta{}, applogin.VerifyOTP{Ticket: ticket, To: phone, OTP: sent.Code})
	if err != nil || out.AccountID != "acc-p" {
		t.Fatalf("verify: %+v %v", out, err)
	}
	f.then(
		events.OTPVerified{Ticket: th},
		events.IdentityBound{AccountID: "acc-p", BoundIdentity: events.NewBoundIdentity("openid", "shop", "o1"), Method: "bind_otp"},
		events.LoginSucceeded{App: "shop", AccountID: "acc-p", Method: "bind_otp", SessionID: "*"},
		f.session("acc-p", "shop", "wechat", "sms"),
	)
}

// A one-time code entry that races another write to the ticket (another
// replica recorded a failure) decides again on the fresh ticket: the
// multi-aggregate append retries through events.Transact.
func TestOTPVerifyConflictRetries(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	ticket := f.socialBind("c1")
	th := ticketHash(ticket)
	if _, _, err := f.login.SendOTP.Handle(f.ctx, events.Meta{}, applogin.SendOTP{Ticket: ticket, Channel: "email", To: "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	rival := events.TicketAttemptFailed{Method: "bind_password", Reason: "wrong_password"}
	appends := 0
	f.store.BeforeAppend(func(ctx context.Context, cs []events.Change) error {
		appends++
		if appends == 1 {
			f.given(events.AggregateTicket, th, rival)
		}
		return nil
	})
	f.when()
	_, _, err := f.login.VerifyOTP.Handle(f.ctx, events.Meta{}, applogin.VerifyOTP{Ticket: ticket, To: "ada@example.com", OTP: "999999"})
	if f.sender.last().Code == "999999" {
		t.Skip("the random code was 999999")
	}
	f.thenError(err, "invalid_otp",
		rival,
		events.OTPFailed{Ticket: th, TriesLeft: 4},
		events.TicketAttemptFailed{Method: "bind_otp", Reason: "invalid_otp"},
	)
	if appends < 3 { // the rival's, the conflicting one, the retry
		t.Fatalf("%d appends", appends)
	}
}
