package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/secrets"
)

// StateAAD is the context a client's state is sealed under (the
// authorization id follows it).
const StateAAD = "oidc-state:"

// Authorizations runs authorization requests: recording them, granting or
// denying them, and exchanging their code once. A code is the request id
// with a MAC under a key derived from the master key, so any replica can
// check it and no code is ever stored.
type Authorizations struct {
	Repo    *events.Repository[*authorization.Authorization]
	Box     *secrets.Box
	CodeKey []byte
	Now     func() time.Time
	// Sessions keeps the families of web apps' refresh tokens (the
	// session families of the mini-program API, with the client on them);
	// nil issues no refresh tokens.
	Sessions *sessions.Service
	// Gate decides on the account aggregate whether a token's account may
	// still act (nil: no check, tests).
	Gate sessions.AccountGate
}

// NewAuthorizations wires the use cases to a store.
func NewAuthorizations(store events.Store, box *secrets.Box, codeKey []byte, now func() time.Time) *Authorizations {
	if now == nil {
		now = time.Now
	}
	return &Authorizations{
		Repo: events.NewRepository(store, events.AggregateAuthorization, authorization.New, 10000),
		Box:  box, CodeKey: codeKey, Now: now,
	}
}

// Request records a new authorization request and answers its id. state is
// the client's state, sealed before it reaches the event.
func (s *Authorizations) Request(ctx context.Context, meta events.Meta, r authorization.Request, state string) (*authorization.Authorization, error) {
	id := uuid.NewString()
	if state != "" {
		sealed, err := s.Box.Seal([]byte(state), StateAAD+id)
		if err != nil {
			return nil, err
		}
		r.StateSealed = sealed
	}
	now := s.Now()
	meta = withTime(meta, now, "anonymous")
	_, a, err := s.Repo.Update(ctx, id, meta, func(a *authorization.Authorization) (events.Decision, error) {
		evs, err := a.Record(r, now)
		return events.Decision{Events: evs}, err
	})
	return a, usecase.Translate(err)
}

// Get loads a request; an unknown one is authorization_not_found.
func (s *Authorizations) Get(ctx context.Context, id string) (*authorization.Authorization, error) {
	if uuid.Validate(id) != nil {
		return nil, authorization.ErrNotFound
	}
	a, _, err := s.Repo.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Exists() {
		s.Repo.Forget(id) // ids come from browsers: do not cache unknown ones
		return nil, authorization.ErrNotFound
	}
	return a, nil
}

// State is the client's state of a request, unsealed.
func (s *Authorizations) State(a *authorization.Authorization) string {
	sealed := a.Requested().StateSealed
	if sealed == "" {
		return ""
	}
	plain, err := s.Box.Open(sealed, StateAAD+a.ID())
	if err != nil {
		return ""
	}
	return string(plain)
}

// Grant records that accountID signed in for the request.
type Grant struct {
	AccountID, SessionID string
	AMR                  []string
	AuthTime             time.Time
	QRID                 string
}

// Approve grants the request.
func (s *Authorizations) Approve(ctx context.Context, meta events.Meta, id string, g Grant) (events.Position, error) {
	now := s.Now()
	meta = withTime(meta, now, g.AccountID)
	pos, _, err := s.Repo.Update(ctx, id, meta, func(a *authorization.Authorization) (events.Decision, error) {
		evs, err := a.Approve(g.AccountID, g.SessionID, g.AMR, g.AuthTime, g.QRID, now)
		return events.Decision{Events: evs}, err
	})
	return pos, usecase.Translate(err)
}

// Deny ends the request without a code, for reason (an OAuth error code).
func (s *Authorizations) Deny(ctx context.Context, meta events.Meta, id, reason, accountID string) (events.Position, error) {
	now := s.Now()
	meta = withTime(meta, now, "anonymous")
	pos, _, err := s.Repo.Update(ctx, id, meta, func(a *authorization.Authorization) (events.Decision, error) {
		evs, err := a.Deny(reason, accountID, now)
		return events.Decision{Events: evs}, err
	})
	return pos, usecase.Translate(err)
}

// Code is the authorization code of request id: "<id>.<MAC>".
func (s *Authorizations) Code(id string) string {
	return id + "." + s.mac(id)
}

func (s *Authorizations) mac(id string) string {
	m := hmac.New(sha256.New, s.CodeKey)
	m.Write([]byte("bindery oidc code v1:" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func withTime(meta events.Meta, now time.Time, actor string) events.Meta {
	if meta.Time.IsZero() {
		meta.Time = now
	}
	if meta.Actor == "" {
		meta.Actor = actor
	}
	return meta
}
