package oidc

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/authorization"
)

// requestOf is the authorization id an access token's jti names.
func requestOf(jti string) string {
	id, _, _ := strings.Cut(jti, ".")
	return id
}

// ActiveToken answers the request of a web app's access token (jti, of
// subject) when the token still counts, decided on the aggregates as the
// store holds them now, so that a revocation on any replica holds on every
// replica at once: its request's code was exchanged once and not reused,
// the token was not revoked, its family of refresh tokens (if any) is not
// revoked, and its account may act. Anything else is
// authorization.ErrTokenInactive (or the account's refusal).
func (s *Authorizations) ActiveToken(ctx context.Context, jti, subject string) (*authorization.Authorization, error) {
	a, err := s.fresh(ctx, requestOf(jti))
	if errors.Is(err, authorization.ErrNotFound) {
		return nil, authorization.ErrTokenInactive
	}
	if err != nil {
		return nil, err
	}
	if err := a.AccessTokenActive(jti); err != nil || a.Grant().AccountID != subject {
		return nil, authorization.ErrTokenInactive
	}
	if fam := a.FamilyID(); fam != "" && s.Sessions != nil {
		if err := s.Sessions.FamilyLive(ctx, fam); err != nil {
			return nil, authorization.ErrTokenInactive
		}
	}
	if s.Gate != nil {
		if err := s.Gate.CanAct(ctx, subject); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// fresh loads request id as the store holds it now.
func (s *Authorizations) fresh(ctx context.Context, id string) (*authorization.Authorization, error) {
	if uuid.Validate(id) != nil {
		return nil, authorization.ErrNotFound
	}
	a, _, err := s.Repo.Refresh(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Exists() {
		s.Repo.Forget(id) // ids come from tokens: do not cache unknown ones
		return nil, authorization.ErrNotFound
	}
	return a, nil
}
