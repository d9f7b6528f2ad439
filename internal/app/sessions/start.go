package sessions

import (
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// Start prepares a new session family for a login: the change to append (a
// new `session` aggregate, Expected 0) — the caller appends it atomically
// together with its own auth-log events in ONE store.Append — and the tokens
// to hand out only after that append succeeded.
func (s *Service) Start(c IDClaims, app string, amr []string, now time.Time) (events.Change, Issued, error) {
	if c.AccountID == "" || app == "" {
		return events.Change{}, Issued{}, errors.New("sessions: Start needs an account id and an app")
	}
	id := uuid.NewString()
	tok, hash := tokens.NewSessionToken(id)
	evs, err := session.New(id).Issue(c.AccountID, app, amr, hash, now, s.sessionTTL())
	if err != nil {
		return events.Change{}, Issued{}, err
	}
	idt, err := s.sign(c, app, id, amr, now, now)
	if err != nil {
		return events.Change{}, Issued{}, err
	}
	return events.Change{Aggregate: events.Aggregate{Type: Aggregate, ID: id}, Events: evs},
		s.issued(c.AccountID, idt, tok), nil
}
