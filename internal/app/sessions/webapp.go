package sessions

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// A web app's refresh tokens (OpenID Provider) are session families with
// the client on them: the rotation, reuse detection and revocation here
// are the session tokens' own, for the token endpoint of a web app.

// WebAppFamily is what a web app's refresh token stands for.
type WebAppFamily struct {
	ID, AccountID, App string
	events.WebApp
	AMR      []string
	AuthTime time.Time
}

func familyOf(st *session.Session) WebAppFamily {
	return WebAppFamily{ID: st.ID(), AccountID: st.AccountID(), App: st.App(), WebApp: st.WebApp(), AMR: st.AMR(), AuthTime: st.AuthTime()}
}

// StartWebApp prepares the family of refresh tokens a code exchange
// starts: the change to append (a new session aggregate) together with
// the exchange, and its first refresh token to hand out after that.
func (s *Service) StartWebApp(accountID, app string, w events.WebApp, amr []string, authTime, now time.Time) (events.Change, string, error) {
	id := uuid.NewString()
	tok, hash := tokens.NewSessionToken(id)
	evs, err := session.New(id).IssueWebApp(accountID, app, w, amr, authTime, hash, now, s.sessionTTL())
	if err != nil {
		return events.Change{}, "", err
	}
	return events.Change{Aggregate: events.Aggregate{Type: Aggregate, ID: id}, Events: evs}, tok, nil
}

// WebAppToken answers the family of a web app's current refresh token, as
// the store holds it now. A rotated token is reuse: the family is revoked
// (session_reused). Anything else unusable is invalid_session.
func (s *Service) WebAppToken(ctx context.Context, meta events.Meta, refreshToken string) (WebAppFamily, error) {
	s.init()
	fam, ok := parseToken(refreshToken)
	if !ok {
		return WebAppFamily{}, session.ErrInvalid
	}
	st, _, err := s.Repo.Refresh(ctx, fam)
	if err != nil {
		return WebAppFamily{}, err
	}
	if !st.WebAppFamily() {
		return WebAppFamily{}, session.ErrInvalid
	}
	hash := tokens.HashToken(refreshToken)
	switch err := st.AuthenticateClient(st.WebApp().ClientID, hash, s.now()); {
	case errors.Is(err, session.ErrReused):
		return WebAppFamily{}, s.reused(ctx, meta, fam, hash)
	case err != nil:
		return WebAppFamily{}, err
	}
	return familyOf(st), nil
}

// reused records the reuse of a rotated token and revokes the family.
func (s *Service) reused(ctx context.Context, meta events.Meta, fam, hash string) error {
	_, err := s.update(ctx, meta, fam, func(st *session.Session) (events.Decision, error) {
		if revoked, _ := st.Revoked(); revoked {
			return events.Decision{}, nil
		}
		return events.Decision{Events: st.DetectReuse(hash)}, nil
	})
	if err != nil {
		return err
	}
	return session.ErrReused
}

// FamilyLive reports whether the family of a web app's tokens still
// speaks, decided on the aggregate as the store holds it now: not revoked
// (session.ErrInvalid otherwise). Expiry is not checked: it bounds the
// refresh tokens, the access tokens carry their own.
func (s *Service) FamilyLive(ctx context.Context, id string) error {
	s.init()
	st, _, err := s.Repo.Refresh(ctx, id)
	if err != nil {
		return err
	}
	if revoked, _ := st.Revoked(); !st.Exists() || revoked {
		return session.ErrInvalid
	}
	return nil
}
