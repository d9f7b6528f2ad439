package oidc

import (
	"context"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/sessions"
)

// RefreshGrant is what a web app's refresh token stands for: its family
// and the authorization whose code started it.
type RefreshGrant struct {
	Family        sessions.WebAppFamily
	Authorization *authorization.Authorization
}

// RefreshGrantOf looks up the grant of a refresh token presented at the
// token endpoint, before the client is checked against it. A token
// already rotated is reuse, and revokes its family (session_reused).
func (s *Authorizations) RefreshGrantOf(ctx context.Context, meta events.Meta, refreshToken string) (RefreshGrant, error) {
	if s.Sessions == nil {
		return RefreshGrant{}, authorization.ErrCodeInvalid
	}
	fam, err := s.Sessions.WebAppToken(ctx, withTime(meta, s.Now(), ""), refreshToken)
	if err != nil {
		return RefreshGrant{}, err
	}
	a, err := s.Get(ctx, fam.AuthorizationID)
	if err != nil {
		return RefreshGrant{}, err
	}
	return RefreshGrant{Family: fam, Authorization: a}, nil
}

// Refreshed is what a refresh issues: the jti of the new access token and
// the next refresh token of the family.
type Refreshed struct {
	TokenID, RefreshToken string
}

// Refresh rotates the refresh token of clientID (RFC 6749 §6): the family
// answers the next token, reuse revokes it, a disabled account ends it.
func (s *Authorizations) Refresh(ctx context.Context, meta events.Meta, refreshToken, clientID string) (Refreshed, error) {
	if s.Sessions == nil {
		return Refreshed{}, authorization.ErrCodeInvalid
	}
	fam, next, _, err := s.Sessions.RotateWebApp(ctx, withTime(meta, s.Now(), clientID), refreshToken, clientID)
	if err != nil {
		return Refreshed{}, err
	}
	return Refreshed{TokenID: NewTokenID(fam.AuthorizationID), RefreshToken: next}, nil
}
