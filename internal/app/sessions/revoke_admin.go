package sessions

import (
	"context"
	"errors"
	"regexp"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/events"
)

// ErrSessionNotFound: no session family with that id belongs to the account.
var ErrSessionNotFound = domain.New(domain.KindNotFound, "session_not_found", "the account has no session with that id")

var familyID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// RevokeByID ends one session family of an account, by its id (the
// session_id of its events), for an administrator: DELETE
// /v1/accounts/{id}/sessions/{session} and the console. Revoking a family
// already revoked changes nothing.
func (s *Service) RevokeByID(ctx context.Context, meta events.Meta, accountID, sessionID string) (events.Position, error) {
	s.init()
	if !familyID.MatchString(sessionID) {
		return events.Position{}, ErrSessionNotFound
	}
	// Unknown is ErrInvalid first, so that update checks a cached verdict
	// once more on what the store holds.
	pos, err := s.update(ctx, meta, sessionID, func(st *session.Session) (events.Decision, error) {
		if !st.Exists() || st.AccountID() != accountID {
			return events.Decision{}, session.ErrInvalid
		}
		return events.Decision{Events: st.Revoke(events.RevokeAdmin)}, nil
	})
	if errors.Is(err, session.ErrInvalid) {
		return events.Position{}, ErrSessionNotFound
	}
	return pos, err
}
