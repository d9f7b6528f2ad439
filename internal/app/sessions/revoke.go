package sessions

import (
	"context"
	"errors"

	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// Revoke ends the session family of a token (logout). It is idempotent: a
// family already revoked or expired answers success. A rotated token
// presented here is reuse, as with Refresh.
func (s *Service) Revoke(ctx context.Context, meta events.Meta, sessionToken string) (events.Position, error) {
	s.init()
	fam, ok := parseToken(sessionToken)
	if !ok {
		return events.Position{}, session.ErrInvalid
	}
	hash := tokens.HashToken(sessionToken)
	now := s.now()
	var outcome error
	pos, err := s.update(ctx, meta, fam, func(st *session.Session) (events.Decision, error) {
		outcome = nil
		if st.WebAppFamily() {
			return events.Decision{}, session.ErrInvalid
		}
		evs, err := st.Logout(hash, now)
		if errors.Is(err, session.ErrReused) {
			outcome = err
			return events.Decision{Events: evs}, nil
		}
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return events.Position{}, err
	}
	return pos, outcome
}
