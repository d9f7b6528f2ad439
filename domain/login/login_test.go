package login_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
)

func TestCandidates(t *testing.T) {
	full := events.ProvenIdentity{App: "shop", OpenID: "o1", UnionID: "u1", Phone: "+8613800000000"}
	cases := []struct {
		name  string
		kind  string
		rules []string
		p     events.ProvenIdentity
		want  []login.Candidate
	}{
		{"rule order, missing phone skipped", "wechat", []string{"unionid", "openid", "phone"}, events.ProvenIdentity{App: "shop", OpenID: "o1", UnionID: "u1"},
			[]login.Candidate{{"unionid", "unionid", "u1"}, {"openid", "openid", "shop|o1"}}},
		{"phone first", "wechat", []string{"phone", "unionid"}, full,
			[]login.Candidate{{"phone", "phone", "+8613800000000"}, {"unionid", "unionid", "u1"}, {"openid", "openid", "shop|o1"}}},
		{"openid always looked up, last", "wechat", []string{"email"}, full,
			[]login.Candidate{{"openid", "openid", "shop|o1"}}},
		{"external_id needs a host login", "wechat", []string{"external_id", "openid"}, full,
			[]login.Candidate{{"openid", "openid", "shop|o1"}}},
		{"host: uid binding, then external_id", "host", []string{"openid", "external_id"}, events.ProvenIdentity{App: "hq", HostUID: "E7"},
			[]login.Candidate{{"openid", "host_uid", "hq|E7"}, {"external_id", "external_id", "E7"}}},
		{"host: implicit rules", "host", []string{"phone"}, events.ProvenIdentity{App: "hq", HostUID: "E7"},
			[]login.Candidate{{"openid", "host_uid", "hq|E7"}, {"external_id", "external_id", "E7"}}},
	}
	for _, c := range cases {
		if got := login.Candidates(c.kind, c.rules, c.p); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: Candidates(%s, %v, %+v) = %v, want %v", c.name, c.kind, c.rules, c.p, got, c.want)
		}
	}
}

func TestBackfill(t *testing.T) {
	p := events.ProvenIdentity{App: "shop", OpenID: "o1", UnionID: "u1", Phone: "+8613800000000"}
	cands := login.Candidates("wechat", []string{"unionid", "openid", "phone"}, p)
	f := login.BackfillFor(p, cands, 2) // found by phone
	if f.Rule != "phone" || len(f.Bindings) != 2 || f.Bindings[0].Kind != "unionid" || f.Bindings[1].Kind != "openid" || f.Phone != "" {
		t.Fatalf("backfill: %+v", f)
	}
	// The account decides what is new: it has the unionid already and a phone.
	acc := account.New("a1")
	acc.Apply(events.Record{Event: events.AccountCreated{AccountID: "a1", Phone: "+8613900000000"}})
	acc.Apply(events.Record{Event: events.IdentityBound{AccountID: "a1", BoundIdentity: f.Bindings[0]}})
	f.Phone = "+8613800000000"
	evs, err := acc.Backfill(f)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Backfill: %v %v", evs, err)
	}
	bf := evs[0].(events.AttributesBackfilled)
	if len(bf.Bindings) != 1 || bf.Bindings[0].Kind != "openid" || bf.Phone != "" {
		t.Fatalf("event: %+v", bf)
	}
	// Nothing new: no event.
	acc.Apply(events.Record{Event: bf})
	if evs, _ := acc.Backfill(f); len(evs) != 0 {
		t.Fatalf("second back-fill: %v", evs)
	}
	// Claims: the back-filled binding.
	if cs := bf.UniqueConstraints(); len(cs) != 1 || cs[0].Kind != "openid" || cs[0].Value != "shop|o1" || cs[0].Owner != "a1" {
		t.Fatalf("constraints: %+v", cs)
	}
}

func rec(e events.Event, at time.Time) events.Record {
	return events.Record{Event: e, Envelope: events.Envelope{Time: at}}
}

func code(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

// must is the events of a decision that cannot fail here.
func must(evs []events.Event, err error) []events.Event {
	if err != nil {
		panic(err)
	}
	return evs
}

func TestTicket(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tk := login.NewTicket("h")
	if code(tk.Check(now)) != "ticket_expired" {
		t.Fatal("an unknown ticket is usable")
	}
	for _, e := range must(tk.Issue(login.StatusSocialBind, events.ProvenIdentity{App: "shop", OpenID: "o"}, now)) {
		tk.Apply(rec(e, now))
	}
	steps := []struct {
		name string
		at   time.Duration
		do   func() error
		want string
	}{
		{"fresh", 0, func() error { return tk.Check(now) }, ""},
		{"otp request", 0, func() error { _, err := tk.RequestOTP("sms", "x", now); return err }, ""},
		{"expired", login.TicketTTL, func() error { return tk.Check(now.Add(login.TicketTTL)) }, "ticket_expired"},
	}
	for _, s := range steps {
		if got := code(s.do()); got != s.want {
			t.Errorf("%s: %q, want %q", s.name, got, s.want)
		}
	}
	for i := 0; i < login.MaxTicketFailures-1; i++ {
		tk.Apply(rec(must(tk.Fail("bind_password", "wrong_password", now))[0], now))
	}
	if err := tk.Check(now); err != nil {
		t.Fatalf("after 9 failures: %v", err)
	}
	tk.Apply(rec(must(tk.Fail("bind_password", "wrong_password", now))[0], now))
	if code(tk.Check(now)) != "ticket_expired" {
		t.Fatal("alive after 10 failures")
	}
	used := login.NewTicket("u")
	used.Apply(rec(must(used.Issue(login.StatusUserRegister, events.ProvenIdentity{App: "shop"}, now))[0], now))
	evs, err := used.Use("acc", "register", "sid", now)
	if err != nil {
		t.Fatal(err)
	}
	used.Apply(rec(evs[0], now))
	if code(used.Check(now)) != "ticket_used" {
		t.Fatal("usable after use")
	}
}

func TestOTPLimits(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	o := login.NewOTP("to")
	send := func(at time.Time, ticket string) error {
		// t1 and t2 are two tickets of one requester (the same app and openid).
		evs, err := o.Send("shop", login.Contact{Channel: login.ChannelSMS, Address: "+8613800000000"}, ticket, "r1", "h-"+ticket, at)
		if err == nil {
			o.Apply(rec(evs[0], at))
		}
		return err
	}
	if err := send(now, "t1"); err != nil {
		t.Fatal(err)
	}
	err := send(now.Add(30*time.Second), "t2")
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != "rate_limited" || de.RetryAfter != 30*time.Second {
		t.Fatalf("second send within the gap: %v", err)
	}
	// The per-address hourly limit is a requester's share (it was shared by
	// every ticket before issue 13 finding 4): OTPRequesterSendsPerHour.
	for i := 1; i < login.OTPRequesterSendsPerHour; i++ {
		if err := send(now.Add(time.Duration(i)*login.OTPSendGap), "t1"); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := send(now.Add(10*time.Minute), "t1"); code(err) != "rate_limited" {
		t.Fatalf("send %d in the hour: %v", login.OTPRequesterSendsPerHour+1, err)
	}
	if err := send(now.Add(time.Hour), "t1"); err != nil {
		t.Fatalf("after the hour: %v", err)
	}
	// Verify: wrong codes count, five use the code up.
	at := now.Add(time.Hour)
	for i := 0; i < login.OTPMaxTries; i++ {
		evs, err := o.Verify("t1", "wrong", at)
		if code(err) != "invalid_otp" || len(evs) != 1 || evs[0].(events.OTPFailed).TriesLeft != login.OTPMaxTries-i-1 {
			t.Fatalf("try %d: %v %v", i, evs, err)
		}
		o.Apply(rec(evs[0], at))
	}
	if _, err := o.Verify("t1", "h-t1", at); code(err) != "otp_expired" {
		t.Fatalf("after five tries: %v", err)
	}
	if _, err := o.Verify("t9", "h-t9", at); code(err) != "otp_expired" {
		t.Fatalf("another ticket: %v", err)
	}
}

func TestPasswordGuard(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	g := login.NewPasswordGuard(login.GuardID("a"))
	for i := 0; i < login.MaxPasswordFailures; i++ {
		if err := g.Check(now); err != nil {
			t.Fatalf("failure %d refused: %v", i, err)
		}
		g.Apply(rec(g.Fail("shop", "a", "bind_password")[0], now.Add(time.Duration(i)*time.Second)))
	}
	err := g.Check(now.Add(2 * time.Minute))
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != "too_many_attempts" || de.RetryAfter != 58*time.Minute {
		t.Fatalf("101st attempt: %v", err)
	}
	if err := g.Check(now.Add(login.PasswordWindow)); err != nil {
		t.Fatalf("the oldest failure left the window: %v", err)
	}
}
