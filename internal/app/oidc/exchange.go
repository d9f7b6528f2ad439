package oidc

import (
	"context"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// Exchanged is what a code's exchange issues: the jti of the access token
// and, with offline_access, the first refresh token of a new family.
type Exchanged struct {
	TokenID, RefreshToken string
}

// Exchange records the code's one exchange by clientID; a second exchange
// (even a concurrent one) fails with invalid_grant and revokes what the
// first issued. withRefresh starts a family of refresh tokens, stored in
// the same append as code_exchanged.
func (s *Authorizations) Exchange(ctx context.Context, meta events.Meta, id, clientID string, withRefresh bool) (Exchanged, error) {
	now := s.Now()
	var out Exchanged
	reused := false
	_, _, err := s.Repo.Update(ctx, id, withTime(meta, now, clientID), func(a *authorization.Authorization) (events.Decision, error) {
		out, reused = Exchanged{TokenID: NewTokenID(id)}, a.CodeReused()
		var family string
		var also []events.Change
		if withRefresh && s.Sessions != nil {
			g := a.Grant()
			change, tok, err := s.Sessions.StartWebApp(g.AccountID, a.Requested().App, events.WebApp{
				ClientID: clientID, AuthorizationID: id, Scopes: a.Requested().Scopes,
			}, g.AMR, g.AuthTime, now)
			if err != nil {
				return events.Decision{}, err
			}
			family, out.RefreshToken, also = change.Aggregate.ID, tok, []events.Change{change}
		}
		evs, err := a.Exchange(clientID, out.TokenID, family, now)
		return events.Decision{Events: evs, Also: also}, err
	})
	if err != nil {
		if reused {
			if rerr := s.RevokeReusedCode(ctx, meta, id); rerr != nil {
				return Exchanged{}, rerr
			}
		}
		return Exchanged{}, usecase.Translate(err)
	}
	return out, nil
}

// NewTokenID is a fresh jti for an access token of request id:
// "<authorization id>.<random>", so that the token names its request.
func NewTokenID(id string) string { return id + "." + uuid.NewString() }
