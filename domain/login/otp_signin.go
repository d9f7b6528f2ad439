package login

import (
	"time"

	"github.com/bindery/bindery/events"
)

// SignInRequester is the requester (fair.go) of the codes the hosted login
// page of an authorization request asks for: the request, as nobody has
// proven an identity there yet.
func SignInRequester(authorizationID string) string {
	return hashHex("otp-requester", "authorization", authorizationID)
}

// SendSignIn decides sending a new code (its hash, codeHash) to the address
// for the hosted login page of authorization request authorizationID (a
// sign-in to app); it replaces the request's previous code. The address's
// fair shares apply as to a ticket's codes (the request is the
// requester), so that pages opened by strangers never lock the owner out.
func (o *OTP) SendSignIn(app string, to Contact, authorizationID, codeHash string, now time.Time) ([]events.Event, error) {
	requester := SignInRequester(authorizationID)
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
