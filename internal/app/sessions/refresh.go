package sessions

import (
	"context"
	"errors"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// Refresh rotates a session token: it answers a new session token and a new
// id_token with the account's current claims. A token that was already
// rotated revokes the family (session_reused); a disabled account revokes
// it too (account_disabled); anything else unusable is invalid_session.
func (s *Service) Refresh(ctx context.Context, meta events.Meta, sessionToken string) (Issued, events.Position, error) {
	return s.RefreshFor(ctx, meta, sessionToken, "")
}

// RefreshFor is Refresh for an OAuth2 client: when clientID is not "" the
// family must have been issued for that app, else the token is
// invalid_session (and is not rotated).
func (s *Service) RefreshFor(ctx context.Context, meta events.Meta, sessionToken, clientID string) (Issued, events.Position, error) {
	s.init()
	fam, ok := parseToken(sessionToken)
	if !ok {
		return Issued{}, events.Position{}, session.ErrInvalid
	}
	hash := tokens.HashToken(sessionToken)
	now := s.now()
	var out Issued
	var outcome error
	pos, err := s.update(ctx, meta, fam, func(st *session.Session) (events.Decision, error) {
		out, outcome = Issued{}, nil
		if st.WebAppFamily() {
			// A web app's refresh token: its own token endpoint only.
			return events.Decision{}, session.ErrInvalid
		}
		switch err := st.Authenticate(hash, now); {
		case errors.Is(err, session.ErrReused):
			outcome = err
			return events.Decision{Events: st.DetectReuse(hash)}, nil
		case err != nil:
			return events.Decision{}, err
		}
		if clientID != "" && clientID != st.App() {
			return events.Decision{}, session.ErrInvalid
		}
		acc, ok := s.Accounts.Get(st.AccountID())
		if !ok {
			return events.Decision{}, session.ErrInvalid
		}
		blocked := account.Blocked(acc.Status)
		if s.Gate != nil && blocked == nil {
			// Decided on the account aggregate: this replica's view may
			// lag a disable made on another.
			switch err := s.Gate.CanAct(ctx, st.AccountID()); {
			case account.IsBlocked(err):
				blocked = err
			case err != nil:
				return events.Decision{}, err
			}
		}
		if blocked != nil {
			outcome = blocked
			return events.Decision{Events: st.Revoke(events.RevokeAccountDisabled)}, nil
		}
		tok, next := tokens.NewSessionToken(st.ID())
		idt, err := s.sign(ClaimsFor(acc), st.App(), st.ID(), st.AMR(), st.AuthTime(), now)
		if err != nil {
			return events.Decision{}, err
		}
		out = s.issued(acc.ID, idt, tok)
		return events.Decision{Events: st.Rotate(next, now, s.sessionTTL())}, nil
	})
	if err != nil {
		return Issued{}, events.Position{}, err
	}
	if outcome != nil {
		return Issued{}, pos, outcome
	}
	return out, pos, nil
}
