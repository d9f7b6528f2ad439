// Package sessions issues, refreshes and revokes session families: the
// opaque session tokens and id_tokens a login hands out.
package sessions

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/projections"
)

// Default lifetimes of the tokens a session hands out.
const (
	DefaultIDTokenTTL = 15 * time.Minute
	DefaultSessionTTL = 30 * 24 * time.Hour
)

// Aggregate is the aggregate type of session families (auth log).
const Aggregate = events.AggregateSession

// AccountReader reads the account read model (projections.Accounts): a
// refresh signs the account's current claims and refuses a disabled one.
type AccountReader interface {
	Get(id string) (projections.Account, bool)
}

// Service issues, refreshes and revokes session families: a login's chain
// of opaque session tokens, rotated on every refresh, each refresh also
// signing a fresh id_token with the account's current claims.
type Service struct {
	Store    events.Store
	Signer   *tokens.Signer
	Accounts AccountReader // current claims on refresh
	// Gate decides on the account aggregate whether it may still act (a
	// refresh, a bearer id_token); nil trusts the view alone (tests).
	Gate       AccountGate
	IDTokenTTL time.Duration    // default 15 minutes
	SessionTTL time.Duration    // each session token's lifetime; default 30 days
	Now        func() time.Time // default time.Now

	// Repo holds the session families; New makes it (and it is made on
	// first use when the struct is built by hand).
	Repo *events.Repository[*session.Session]
	once sync.Once
}

// New returns the session commands over store, with the default
// lifetimes.
func New(store events.Store, signer *tokens.Signer, accounts AccountReader) *Service {
	usecase.Require("sessions.New", "store", store, "signer", signer, "accounts", accounts)
	s := &Service{Store: store, Signer: signer, Accounts: accounts}
	s.init()
	return s
}

func (s *Service) init() {
	s.once.Do(func() {
		if s.Repo == nil {
			s.Repo = events.NewRepository(s.Store, Aggregate, session.New, 20000)
		}
	})
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) idTTL() time.Duration {
	if s.IDTokenTTL > 0 {
		return s.IDTokenTTL
	}
	return DefaultIDTokenTTL
}

func (s *Service) sessionTTL() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return DefaultSessionTTL
}

// update runs decide on the family, attributing the events to its account.
// A cached state may predate a rotation or an issue made by another
// replica, and a decision that finds the token unknown appends nothing (so
// optimistic concurrency cannot catch that): such a verdict is checked once
// more on what the store holds before it is final.
func (s *Service) update(ctx context.Context, meta events.Meta, id string, decide func(*session.Session) (events.Decision, error)) (events.Position, error) {
	if meta.Actor == "" {
		if st, _, err := s.Repo.Get(ctx, id); err == nil && st.Exists() {
			meta.Actor = st.AccountID()
		} else {
			meta.Actor = "anonymous"
		}
	}
	if meta.Time.IsZero() {
		meta.Time = s.now()
	}
	pos, _, err := s.Repo.Update(ctx, id, meta, decide)
	if errors.Is(err, session.ErrInvalid) {
		s.Repo.Forget(id)
		pos, _, err = s.Repo.Update(ctx, id, meta, decide)
	}
	return pos, usecase.Translate(err)
}
