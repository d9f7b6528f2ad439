package oidc

import (
	"context"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
)

// VerifyCode signs the browser in on the page of request id with the
// one-time code sent to an address, and grants the request as a confirmed
// QR code would (amr otp, and sms for a text message).
func (s *SignIn) VerifyCode(ctx context.Context, meta events.Meta, id, to, code string) (Outcome, error) {
	a, err := s.openForSignIn(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	accountID, amr, err := s.Credentials.VerifyCode(ctx, meta, id, to, code)
	if err != nil {
		return Outcome{}, err
	}
	return s.grant(ctx, meta, a, accountID, amr, uuid.NewString(), "")
}
