package oidc

import (
	"context"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
)

// Password signs the browser in on the page of request id with an
// identifier and password, and grants the request as a confirmed QR code
// would (amr pwd): the browser session's cookie is in the outcome.
func (s *SignIn) Password(ctx context.Context, meta events.Meta, id, identifier, password string) (Outcome, error) {
	a, err := s.openForSignIn(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	accountID, err := s.Credentials.Password(ctx, meta, id, a.Requested().App, identifier, password)
	if err != nil {
		return Outcome{}, err
	}
	return s.grant(ctx, meta, a, accountID, []string{AMRPassword}, uuid.NewString(), "")
}
