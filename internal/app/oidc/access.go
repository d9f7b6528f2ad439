package oidc

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/authorization"
)

// ErrAccessEnded: the access token is not one its authorization issued,
// or the sign-in it came from has ended (revoked, logged out, expired).
var ErrAccessEnded = domain.New(domain.KindUnauthorized, "invalid_token",
	"the access token's sign-in has ended (revoked, logged out or expired); sign in again")

// AccessTokens says whether a web app's access token still speaks for its
// account, decided on the aggregates as the store holds them (never on a
// view or a cache that may lag), so that a sign-in ended on one replica
// stops its tokens on every replica: the admin API asks this.
type AccessTokens struct {
	Auth    *Authorizations
	Browser *BrowserSessions
}

// Active checks the access token tokenID (its jti), issued to clientID
// for subject: its authorization's code was exchanged for exactly this
// token, by this client, for this account, and the browser session it
// was signed in with is still live.
func (t *AccessTokens) Active(ctx context.Context, tokenID, subject, clientID string) error {
	id, _, _ := strings.Cut(tokenID, ".")
	if uuid.Validate(id) != nil || subject == "" {
		return ErrAccessEnded
	}
	// ActiveToken: exchanged once, not revoked, its refresh family (if
	// any) live, its account able to act.
	a, err := t.Auth.ActiveToken(ctx, tokenID, subject)
	if errors.Is(err, authorization.ErrTokenInactive) {
		return ErrAccessEnded
	}
	if err != nil {
		return err
	}
	g := a.Grant()
	if a.Requested().ClientID != clientID || g.AccountID != subject {
		return ErrAccessEnded
	}
	if t.Browser == nil {
		return nil
	}
	bs, _, err := t.Browser.Repo.Refresh(ctx, g.SessionID)
	if err != nil {
		return err
	}
	if bs.Live(subject, t.Auth.Now()) != nil {
		return ErrAccessEnded
	}
	return nil
}
