package login_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
)

// An identifier typed on the login page names a username, an e-mail
// address and/or a phone number.
func TestSignInCandidates(t *testing.T) {
	kinds := func(id string) []string {
		var out []string
		for _, c := range login.SignInCandidates(id) {
			out = append(out, c.Kind+"="+c.Value)
		}
		return out
	}
	for id, want := range map[string][]string{
		"Ada":             {"username=ada"},
		"Ada@Example.com": {"username=ada@example.com", "email=ada@example.com"},
		"+8613800138000":  {"phone=+8613800138000"},
		"8613800138000":   {"username=8613800138000"},
		"":                nil,
		"x y":             nil,
	} {
		if got := kinds(id); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", id, got, want)
		}
	}
	a, b := login.UnknownGuardID([]byte("k1"), "demo", "Ada"), login.UnknownGuardID([]byte("k2"), "demo", "ada")
	if a == b || a != login.UnknownGuardID([]byte("k1"), "demo", " ada ") {
		t.Fatalf("guard ids %s %s: keyed, case and spaces ignored", a, b)
	}
}

// A request's code lives beside tickets' codes to the same address
// without mixing with them: each is verified only for its owner, and five
// wrong entries use it up.
func TestOTPSignIn(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	to, _ := login.ParseContact("sms", "+8613800138000")
	o := login.NewOTP("h")
	apply := func(evs []events.Event, err error) error {
		for _, e := range evs {
			o.Apply(events.Record{Event: e, Envelope: events.Envelope{Time: now}})
		}
		return err
	}
	if err := apply(o.SendSignIn("demo", to, "req-1", "hash-1", now)); err != nil {
		t.Fatal(err)
	}
	if err := apply(o.Send("demo", to, "ticket-1", "requester", "hash-t", now)); err != nil {
		t.Fatal(err)
	}
	if _, err := o.VerifySignIn("req-2", "hash-1", now); !errors.Is(err, login.ErrOTPExpired) {
		t.Fatalf("another request's code: %v", err)
	}
	if _, err := o.VerifySignIn("req-1", "hash-t", now); !errors.Is(err, login.ErrInvalidOTP) {
		t.Fatalf("the ticket's code on the request: %v", err)
	}
	if _, err := o.Verify("ticket-1", "hash-1", now); !errors.Is(err, login.ErrInvalidOTP) {
		t.Fatalf("the request's code on the ticket: %v", err)
	}
	if _, err := o.SendSignIn("demo", to, "req-1", "hash-2", now.Add(time.Second)); err == nil {
		t.Fatal("a second code for the request within the gap")
	}
	for i := range login.OTPMaxTries - 1 { // one wrong entry was above, unrecorded
		if err := apply(o.VerifySignIn("req-1", "wrong", now)); !errors.Is(err, login.ErrInvalidOTP) {
			t.Fatalf("wrong entry %d: %v", i, err)
		}
	}
	evs, err := o.VerifySignIn("req-1", "hash-1", now)
	if err != nil || evs[0].(events.OTPVerified).Authorization != "req-1" {
		t.Fatalf("the right code after four wrong ones: %v %v", evs, err)
	}
	_ = apply(o.VerifySignIn("req-1", "wrong", now))
	if _, err := o.VerifySignIn("req-1", "hash-1", now); !errors.Is(err, login.ErrOTPExpired) {
		t.Fatalf("after five wrong entries: %v", err)
	}
	if _, err := o.Verify("ticket-1", "hash-t", now); err != nil {
		t.Fatalf("the ticket's code still works: %v", err)
	}
	if got := login.SignInAMR(to); !slices.Equal(got, []string{"otp", "sms"}) {
		t.Fatalf("amr %v", got)
	}
}

// All login pages are one requester to an address: three codes an hour
// whichever requests ask, and a ticket's owner still gets a code after them.
func TestOTPSignInIsOneRequester(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	to, _ := login.ParseContact("sms", "+8613800138000")
	o := login.NewOTP("h")
	for i := range login.OTPRequesterSendsPerHour {
		at := now.Add(time.Duration(i) * login.OTPSendGap)
		evs, err := o.SendSignIn("demo", to, fmt.Sprintf("req-%d", i), "hash", at)
		if err != nil {
			t.Fatalf("page code %d: %v", i, err)
		}
		o.Apply(events.Record{Event: evs[0], Envelope: events.Envelope{Time: at}})
	}
	later := now.Add(10 * login.OTPSendGap)
	if _, err := o.SendSignIn("demo", to, "req-new", "hash", later); err == nil {
		t.Fatalf("a %dth page code within the hour", login.OTPRequesterSendsPerHour+1)
	}
	if _, err := o.Send("demo", to, "ticket", "owner", "hash", later); err != nil {
		t.Fatalf("the owner's ticket after the pages' codes: %v", err)
	}
}
