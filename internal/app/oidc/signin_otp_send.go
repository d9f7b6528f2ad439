package oidc

import (
	"context"

	"github.com/bindery/bindery/events"
)

// SendCode sends a one-time code for the page of request id to an address
// on channel (sms or email), when an account holds it; it answers how many
// seconds codes live, the same either way.
func (s *SignIn) SendCode(ctx context.Context, meta events.Meta, id, channel, to string) (int, error) {
	a, err := s.openForSignIn(ctx, id)
	if err != nil {
		return 0, err
	}
	return s.Credentials.SendCode(ctx, meta, id, a.Requested().App, channel, to)
}
