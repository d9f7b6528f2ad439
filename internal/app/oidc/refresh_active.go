package oidc

import (
	"context"
	"errors"
	"time"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/internal/app/sessions"
)

// RefreshTokenActive answers the family of a web app's refresh token and
// the token's expiry when it still counts (introspection, RFC 7662): it is
// its family's current token (not rotated), the family is neither revoked
// (by the client, by reuse detection, by a second use of the code) nor
// expired, and its account may act — each decided on the aggregates as the
// store holds them now. Anything else is authorization.ErrTokenInactive
// (or the account's refusal).
func (s *Authorizations) RefreshTokenActive(ctx context.Context, refreshToken string) (sessions.WebAppFamily, time.Time, error) {
	if s.Sessions == nil {
		return sessions.WebAppFamily{}, time.Time{}, authorization.ErrTokenInactive
	}
	fam, exp, err := s.Sessions.WebAppTokenInfo(ctx, refreshToken)
	if errors.Is(err, session.ErrInvalid) {
		return sessions.WebAppFamily{}, time.Time{}, authorization.ErrTokenInactive
	}
	if err != nil {
		return sessions.WebAppFamily{}, time.Time{}, err
	}
	if s.Gate != nil {
		if err := s.Gate.CanAct(ctx, fam.AccountID); err != nil {
			return sessions.WebAppFamily{}, time.Time{}, err
		}
	}
	return fam, exp, nil
}
