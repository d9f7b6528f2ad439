package authorization_test

import (
	"errors"
	"testing"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/events"
)

func code(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

// The hosted login page's attempts on one request: ten failed sign-ins,
// then every attempt is too_many_attempts until the request expires; one
// code a minute and five in all; nothing once the request is granted.
func TestSignInLimits(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := authorization.New("r1")
	evs, err := a.Record(authorization.Request{ClientID: "wiki", App: "demo", Scopes: []string{"openid"}}, now)
	if err := fold(a, evs, err); err != nil {
		t.Fatal(err)
	}
	at := func(e events.Event, when time.Time) {
		a.Apply(events.Record{Event: e, Envelope: events.Envelope{Time: when}})
	}
	for i := range authorization.MaxOTPSends {
		when := now.Add(time.Duration(i) * authorization.OTPSendGap)
		evs, err := a.RequestOTP("sms", "h", when)
		if err != nil || len(evs) != 1 {
			t.Fatalf("code %d: %v", i, err)
		}
		at(evs[0], when)
		if _, err := a.RequestOTP("sms", "h", when.Add(authorization.OTPSendGap/2)); code(err) != "rate_limited" {
			t.Fatalf("a code within the minute: %v", err)
		}
	}
	if _, err := a.RequestOTP("email", "other", now.Add(9*time.Minute)); code(err) != "too_many_attempts" {
		t.Fatalf("code %d: %v", authorization.MaxOTPSends+1, err)
	}
	for i := range authorization.MaxSignInFailures {
		evs, err := a.FailSignIn(authorization.MethodPassword, "invalid_credentials", now)
		if err != nil {
			t.Fatalf("failure %d: %v", i, err)
		}
		if e := evs[0].(events.AuthorizationSignInFailed); e.ClientID != "wiki" || e.AuthorizationID != "r1" {
			t.Fatalf("event %+v", e)
		}
		at(evs[0], now)
	}
	err = a.CheckSignIn(now)
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != "too_many_attempts" || de.RetryAfter != authorization.RequestTTL {
		t.Fatalf("after the failures: %v", err)
	}
	if _, err := a.FailSignIn(authorization.MethodOTP, "invalid_otp", now); code(err) != "too_many_attempts" {
		t.Fatalf("a failure past the limit is recorded: %v", err)
	}
	b := authorization.New("r2")
	evs, _ = b.Record(authorization.Request{ClientID: "wiki"}, now)
	_ = fold(b, evs, nil)
	evs, err = b.Approve("acc", "sid", []string{"pwd"}, now, "", now)
	_ = fold(b, evs, err)
	if err := b.CheckSignIn(now); !errors.Is(err, authorization.ErrFinished) {
		t.Fatalf("sign-in on a granted request: %v", err)
	}
	if err := authorization.New("r3").CheckSignIn(now); !errors.Is(err, authorization.ErrNotFound) {
		t.Fatalf("unknown request: %v", err)
	}
}

// login_hint prefills the page unless it named the subject.
func TestIdentifierHint(t *testing.T) {
	now := time.Now()
	for hint, want := range map[string]string{"ada": "ada", "acc-1": "", "": ""} {
		a := authorization.New("r")
		evs, err := a.Record(authorization.Request{ClientID: "wiki", LoginHint: hint, HintSubject: authorization.SubjectHint("", hint, func(s string) bool { return s == "acc-1" })}, now)
		_ = fold(a, evs, err)
		if got := a.IdentifierHint(); got != want {
			t.Errorf("hint %q: prefill %q, want %q", hint, got, want)
		}
	}
}
