package login

import (
	"time"

	"github.com/bindery/bindery/events"
)

// SignInRequester is the requester (fair.go) of every code the hosted
// login pages of authorization requests ask for: one requester for all of
// them. Anyone can open a login page, for free, as often as they like; if
// each request were a requester of its own, a few page loads would spend
// an address's whole hourly budget and lock its owner out of binding by
// code. As one requester the pages together get what one WeChat user gets
// (three codes an hour to an address, one a minute), and never more.
func SignInRequester() string {
	return hashHex("otp-requester", "hosted-login-page")
}

// SendSignIn decides sending a new code (its hash, codeHash) to the address
// for the hosted login page of authorization request authorizationID (a
// sign-in to app); it replaces the request's previous code. The address's
// fair shares apply as to a ticket's codes, with all login pages as one
// requester (SignInRequester), so that pages opened by strangers never
// lock the owner out of binding.
func (o *OTP) SendSignIn(app string, to Contact, authorizationID, codeHash string, now time.Time) ([]events.Event, error) {
	requester := SignInRequester()
	if err := o.fairLimit(requester, now); err != nil {
		return nil, err
	}
	return []events.Event{events.OTPSent{
		App: app, Channel: to.Channel, To: to.Masked(), Authorization: authorizationID, Requester: requester, CodeHash: codeHash,
		ExpiresAt: now.Add(OTPTTL).UTC(),
	}}, nil
}

// VerifySignIn decides a code entry on the hosted login page of
// authorization request authorizationID, as Verify does for a ticket:
// otp_verified, or otp_failed with the invalid_otp error, or ErrOTPExpired
// with nothing to record.
func (o *OTP) VerifySignIn(authorizationID, codeHash string, now time.Time) ([]events.Event, error) {
	return o.verify("", authorizationID, codeHash, now)
}
