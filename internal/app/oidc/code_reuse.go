package oidc

import (
	"context"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// RevokeReusedCode revokes what the exchange of request id issued, its
// code having been presented again: the request's access tokens
// (token_revoked, reason code_reused) and its family of refresh tokens
// (session_revoked, reason code_reused). Doing it twice changes nothing.
func (s *Authorizations) RevokeReusedCode(ctx context.Context, meta events.Meta, id string) error {
	now := s.Now()
	_, a, err := s.Repo.Update(ctx, id, withTime(meta, now, "anonymous"), func(a *authorization.Authorization) (events.Decision, error) {
		return events.Decision{Events: a.RevokeForReusedCode()}, nil
	})
	if err != nil {
		return usecase.Translate(err)
	}
	if fam := a.FamilyID(); fam != "" && s.Sessions != nil {
		return s.Sessions.RevokeFamily(ctx, withTime(meta, now, a.Grant().AccountID), fam, events.RevokeCodeReused)
	}
	return nil
}
