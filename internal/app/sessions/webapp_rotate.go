package sessions

import (
	"context"
	"errors"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// RotateWebApp rotates a web app's refresh token for clientID at the token
// endpoint: it answers the family and the next refresh token. A token that
// was already rotated — also by a concurrent request that got there first
// — revokes the family (session_reused); a disabled account revokes it too
// (account_disabled).
func (s *Service) RotateWebApp(ctx context.Context, meta events.Meta, refreshToken, clientID string) (WebAppFamily, string, events.Position, error) {
	s.init()
	fam, ok := parseToken(refreshToken)
	if !ok {
		return WebAppFamily{}, "", events.Position{}, session.ErrInvalid
	}
	hash := tokens.HashToken(refreshToken)
	now := s.now()
	var out WebAppFamily
	var next string
	var outcome error
	pos, err := s.update(ctx, meta, fam, func(st *session.Session) (events.Decision, error) {
		out, next, outcome = WebAppFamily{}, "", nil
		switch err := st.AuthenticateClient(clientID, hash, now); {
		case errors.Is(err, session.ErrReused):
			outcome = err
			return events.Decision{Events: st.DetectReuse(hash)}, nil
		case err != nil:
			return events.Decision{}, err
		}
		if s.Gate != nil {
			switch err := s.Gate.CanAct(ctx, st.AccountID()); {
			case account.IsBlocked(err), errors.Is(err, account.ErrNotFound):
				outcome = err
				return events.Decision{Events: st.Revoke(events.RevokeAccountDisabled)}, nil
			case err != nil:
				return events.Decision{}, err
			}
		}
		tok, nextHash := tokens.NewSessionToken(st.ID())
		out, next = familyOf(st), tok
		return events.Decision{Events: st.Rotate(nextHash, now, s.sessionTTL())}, nil
	})
	if err != nil {
		return WebAppFamily{}, "", events.Position{}, err
	}
	if outcome != nil {
		return WebAppFamily{}, "", pos, outcome
	}
	return out, next, pos, nil
}
