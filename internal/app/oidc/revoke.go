package oidc

import (
	"context"
	"time"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// RevokeRefreshToken ends the family of a web app's refresh token for
// clientID (RFC 7009), and with it every access token issued from it.
// found is false when the token is no refresh token Bindery knows.
func (s *Authorizations) RevokeRefreshToken(ctx context.Context, meta events.Meta, refreshToken, clientID string) (found bool, _ error) {
	if s.Sessions == nil {
		return false, nil
	}
	return s.Sessions.RevokeWebApp(ctx, withTime(meta, s.Now(), clientID), refreshToken, clientID)
}

// RevokeAccessToken revokes the access token jti for clientID (RFC 7009);
// it expires at expiresAt anyway. An unknown token is nothing to do.
func (s *Authorizations) RevokeAccessToken(ctx context.Context, meta events.Meta, jti, clientID string, expiresAt time.Time) error {
	id := requestOf(jti)
	if _, err := s.fresh(ctx, id); err != nil {
		return nil // not a token of a request here: RFC 7009 §2.2 answers success
	}
	_, _, err := s.Repo.Update(ctx, id, withTime(meta, s.Now(), clientID), func(a *authorization.Authorization) (events.Decision, error) {
		evs, err := a.RevokeAccessToken(clientID, jti, expiresAt)
		return events.Decision{Events: evs}, err
	})
	return usecase.Translate(err)
}
