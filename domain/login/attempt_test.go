package login_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
)

// Given an attempt's history, when a login decides its outcome, then these
// events or this error.
func TestAttemptDecisions(t *testing.T) {
	decide := map[string]func(a *login.Attempt) ([]events.Event, error){
		"succeed": func(a *login.Attempt) ([]events.Event, error) {
			return a.Succeed("shop", "acc", "code", "openid", "sid")
		},
		"fail": func(a *login.Attempt) ([]events.Event, error) {
			return a.Fail("shop", "acc", "code", "account_disabled")
		},
		"pendbind": func(a *login.Attempt) ([]events.Event, error) { return a.PendBind("shop", "code", "SOCIAL_BIND", "th") },
		"spend":    func(a *login.Attempt) ([]events.Event, error) { return a.Spend("shop", "phone", "first") },
	}
	want := map[string]events.Event{
		"succeed":  events.LoginSucceeded{App: "shop", AccountID: "acc", Method: "code", Rule: "openid", SessionID: "sid"},
		"fail":     events.LoginFailed{App: "shop", AccountID: "acc", Method: "code", Reason: "account_disabled"},
		"pendbind": events.LoginPendingBind{App: "shop", Method: "code", Status: "SOCIAL_BIND", Ticket: "th"},
		"spend":    events.CodeSpent{App: "shop", Method: "phone", Login: "first"},
	}
	given := []struct {
		name    string
		version uint64
		history []events.Event
		err     string
	}{
		{"a new code", 0, nil, ""},
		{"a code whose attempt the store holds (version only)", 7, nil, "code_used"},
		{"a code that logged in", 0, []events.Event{want["succeed"]}, "code_used"},
		{"a code that failed", 0, []events.Event{want["fail"]}, "code_used"},
		{"a code pending a bind", 0, []events.Event{want["pendbind"]}, "code_used"},
		{"a code another login spent", 0, []events.Event{want["spend"]}, "code_used"},
	}
	for _, g := range given {
		for name, when := range decide {
			a := login.NewAttempt(login.AttemptID("shop", login.CodeWeChat, "c1"), g.version)
			for i, e := range g.history {
				a.Apply(events.Record{Event: e, Sequence: uint64(i + 1)})
			}
			evs, err := when(a.Clone())
			if code(err) != g.err {
				t.Errorf("given %s, when %s: error %v, want %q", g.name, name, err, g.err)
				continue
			}
			if g.err == "" && !reflect.DeepEqual(evs, []events.Event{want[name]}) {
				t.Errorf("given %s, when %s: %+v, want %+v", g.name, name, evs, want[name])
			}
		}
	}
	if _, err := login.NewAttempt("x", 0).PendBind("shop", "code", "OK", "th"); err == nil {
		t.Error("a pending bind of status OK")
	}
}

func TestAttemptIDs(t *testing.T) {
	a, b := login.AttemptID("shop", login.CodeWeChat, "c1"), login.AttemptID("shop", login.CodePhone, "c1")
	if a == b || len(a) != 64 || a != login.AttemptID("shop", "code", "c1") {
		t.Fatalf("attempt ids %q %q", a, b)
	}
	if login.AttemptID("sh", "opcode", "c1") == login.AttemptID("shop", "code", "c1") {
		t.Fatal("parts are not separated")
	}
}

func TestContact(t *testing.T) {
	cases := []struct {
		channel, to string
		want        login.Contact
		masked      string
		err         string
	}{
		{"", "+8613800138000", login.Contact{"sms", "+8613800138000"}, "+86138****8000", ""},
		{"", "Ada@Example.com", login.Contact{"email", "ada@example.com"}, "a***@example.com", ""},
		{"sms", "+8613800138000", login.Contact{"sms", "+8613800138000"}, "+86138****8000", ""},
		{"email", "not-an-address", login.Contact{}, "", "validation_failed"},
		{"sms", "12", login.Contact{}, "", "validation_failed"},
		{"fax", "+8613800138000", login.Contact{}, "", "validation_failed"},
		{"sms", "", login.Contact{}, "", "validation_failed"},
	}
	for _, c := range cases {
		got, err := login.ParseContact(c.channel, c.to)
		if code(err) != c.err || got != c.want {
			t.Errorf("ParseContact(%q, %q) = %+v, %v; want %+v, %q", c.channel, c.to, got, err, c.want, c.err)
			continue
		}
		if c.err == "" && got.Masked() != c.masked {
			t.Errorf("%+v masked %q, want %q", got, got.Masked(), c.masked)
		}
	}
	sms, mail := login.Contact{"sms", "+8613800138000"}, login.Contact{"email", "a@b.cn"}
	if sms.Claim() != events.ClaimPhone || mail.Claim() != events.ClaimEmail || sms.Proof() != "sms" || mail.Proof() != "otp" || sms.Hash([]byte("k")) == mail.Hash([]byte("k")) {
		t.Fatalf("claims/proofs/hashes: %v %v", sms, mail)
	}
}

// A ticket records failures only while it can be used; it is issued once.
func TestTicketFailAndIssueOnce(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tk := login.NewTicket("h")
	if _, err := tk.Fail("bind_password", "wrong_password", now); code(err) != "ticket_expired" {
		t.Fatalf("failure on an unknown ticket: %v", err)
	}
	tk.Apply(rec(must(tk.Issue(login.StatusSocialBind, events.ProvenIdentity{App: "shop"}, now))[0], now))
	if _, err := tk.Issue(login.StatusSocialBind, events.ProvenIdentity{App: "shop"}, now); err == nil {
		t.Fatal("issued twice")
	}
	if _, err := tk.Fail("bind_password", "wrong_password", now.Add(login.TicketTTL)); code(err) != "ticket_expired" {
		t.Fatalf("failure on an expired ticket: %v", err)
	}
	evs, err := tk.Fail("bind_phone", "invalid_code", now)
	if err != nil || !reflect.DeepEqual(evs, []events.Event{events.TicketAttemptFailed{Method: "bind_phone", Reason: "invalid_code"}}) {
		t.Fatalf("failure: %v %v", evs, err)
	}
}

// The right code verifies once; OTPSent carries the masked address.
func TestOTPSendVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	o := login.NewOTP("to")
	to := login.Contact{Channel: login.ChannelEmail, Address: "ada@example.com"}
	evs, err := o.Send("shop", to, "t1", "r1", "h1", now)
	want := events.OTPSent{App: "shop", Channel: "email", To: "a***@example.com", Ticket: "t1", Requester: "r1", CodeHash: "h1", ExpiresAt: now.Add(login.OTPTTL).UTC()}
	if err != nil || !reflect.DeepEqual(evs, []events.Event{want}) {
		t.Fatalf("send: %+v %v", evs, err)
	}
	o.Apply(rec(evs[0], now))
	evs, err = o.Verify("t1", "h1", now.Add(time.Minute))
	if err != nil || !reflect.DeepEqual(evs, []events.Event{events.OTPVerified{Ticket: "t1"}}) {
		t.Fatalf("verify: %v %v", evs, err)
	}
	o.Apply(rec(evs[0], now))
	if _, err := o.Verify("t1", "h1", now.Add(time.Minute)); code(err) != "otp_expired" {
		t.Fatalf("a used code verified again: %v", err)
	}
}
