package authorization

import (
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Sign-in methods of the hosted login page besides the QR code, as
// recorded in authorization_sign_in_failed.
const (
	MethodPassword = "password"
	MethodOTP      = "otp"
)

// Limits of one request's hosted login page (the account's password guard
// and the address's one-time-code limits apply besides, across requests).
const (
	MaxSignInFailures = 10               // failed password or code entries, then the request is dead
	OTPSendGap        = 60 * time.Second // between two codes the page asks for
	MaxOTPSends       = 5                // codes one request may ask for
)

// tooManyAttempts is the 429 too_many_attempts of a request whose page
// failed too often (or asked for too many codes); only a new request from
// the web app goes on, so it says to come back when this one would have
// expired anyway.
func (a *Authorization) tooManyAttempts(now time.Time, what string) error {
	e := domain.New(domain.KindRateLimited, "too_many_attempts", "%s for this sign-in; start again from the web app", what)
	e.RetryAfter = max(a.expiresAt.Sub(now), time.Second)
	return e
}

// CheckSignIn refuses a sign-in attempt on the page at now: the request is
// unknown, finished or expired, or its page failed MaxSignInFailures
// times.
func (a *Authorization) CheckSignIn(now time.Time) error {
	if err := a.open(now); err != nil {
		return err
	}
	if a.signInFailures >= MaxSignInFailures {
		return a.tooManyAttempts(now, "too many failed sign-ins")
	}
	return nil
}

// FailSignIn decides recording a failed sign-in by method, answered with
// the problem code reason; a request that takes no attempt any more
// records nothing (CheckSignIn's error).
func (a *Authorization) FailSignIn(method, reason string, now time.Time) ([]events.Event, error) {
	if err := a.CheckSignIn(now); err != nil {
		return nil, err
	}
	return []events.Event{events.AuthorizationSignInFailed{AuthorizationID: a.id, ClientID: a.req.ClientID, Method: method, Reason: reason}}, nil
}

// RequestOTP decides the page's request for a one-time code on channel to
// the address whose hash is toHash: at most one per OTPSendGap and
// MaxOTPSends per request — the same answer whether or not the address
// belongs to anyone.
func (a *Authorization) RequestOTP(channel, toHash string, now time.Time) ([]events.Event, error) {
	if err := a.CheckSignIn(now); err != nil {
		return nil, err
	}
	if n := len(a.otpSends); n > 0 {
		if wait := a.otpSends[n-1].Add(OTPSendGap).Sub(now); wait > 0 {
			e := domain.New(domain.KindRateLimited, "rate_limited", "a one-time code was sent less than %s ago", OTPSendGap)
			e.RetryAfter = max(wait, time.Second)
			return nil, e
		}
	}
	if len(a.otpSends) >= MaxOTPSends {
		return nil, a.tooManyAttempts(now, "too many one-time codes")
	}
	return []events.Event{events.AuthorizationOTPRequested{AuthorizationID: a.id, Channel: channel, ToHash: toHash}}, nil
}
