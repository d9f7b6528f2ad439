// Package session holds the session-family aggregate: one login's chain of
// rotating session tokens, folded from events, and the decisions on it
// (refresh, logout, reuse detection). It sees only token hashes; no I/O.
package session

import (
	"crypto/subtle"
	"slices"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Errors of the session aggregate. Both are 401s: the client must log in
// again.
var (
	// ErrInvalid: unknown, garbled, expired or revoked session token.
	ErrInvalid = domain.New(domain.KindUnauthorized, "invalid_session", "the session token is unknown, expired or revoked; log in again")
	// ErrReused: an already rotated token was presented; the family is now revoked.
	ErrReused = domain.New(domain.KindUnauthorized, "session_reused", "this session token was already used; the session is revoked, log in again")
	// ErrExists: Issue on a family id that is taken.
	ErrExists = domain.New(domain.KindConflict, "conflict", "session family already exists")
)

// MaxUsed bounds the rotated token hashes a family remembers. Tokens
// rotated longer ago than that are no longer recognised as reuse (they
// answer invalid_session); tokens past their own expiry are forgotten
// sooner, since presenting them is harmless anyway.
const MaxUsed = 256

type used struct {
	hash    string
	expires time.Time
}

// Session is the state of one session family.
type Session struct {
	id        string
	exists    bool
	accountID string
	app       string
	amr       []string
	authTime  time.Time
	current   string // hash of the token that may be refreshed now
	expires   time.Time
	used      []used // rotated tokens, oldest first
	revoked   bool
	reason    string
	webApp    events.WebApp // set on a web app's refresh-token family
}

// New returns the empty state of the family with this id.
func New(id string) *Session { return &Session{id: id} }

// ID is the family id (the sid claim).
func (s *Session) ID() string { return s.id }

// Exists reports whether the family was issued.
func (s *Session) Exists() bool { return s.exists }

// AccountID is the account the family belongs to.
func (s *Session) AccountID() string { return s.accountID }

// App is the app (audience) the family was issued for.
func (s *Session) App() string { return s.app }

// AMR lists the authentication methods of the login.
func (s *Session) AMR() []string { return slices.Clone(s.amr) }

// AuthTime is when the user logged in (kept across refreshes).
func (s *Session) AuthTime() time.Time { return s.authTime }

// ExpiresAt is when the current token expires.
func (s *Session) ExpiresAt() time.Time { return s.expires }

// Revoked reports whether the family was revoked, and why.
func (s *Session) Revoked() (bool, string) { return s.revoked, s.reason }

// WebApp names the client, authorization and scopes of a web app's
// refresh-token family; zero for a mini-program family.
func (s *Session) WebApp() events.WebApp { return cloneWebApp(s.webApp) }

func cloneWebApp(w events.WebApp) events.WebApp {
	w.Scopes = slices.Clone(w.Scopes)
	return w
}

// Clone copies the state.
func (s *Session) Clone() *Session {
	c := *s
	c.amr = slices.Clone(s.amr)
	c.used = slices.Clone(s.used)
	c.webApp.Scopes = slices.Clone(s.webApp.Scopes)
	return &c
}

// Apply folds one event into the state.
func (s *Session) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case events.SessionIssued:
		s.exists = true
		s.accountID, s.app, s.amr, s.authTime = e.AccountID, e.App, slices.Clone(e.AMR), e.AuthTime
		s.current, s.expires = e.TokenHash, e.ExpiresAt
		s.webApp = cloneWebApp(e.WebApp)
	case events.SessionRefreshed:
		if s.current != "" && s.current != e.TokenHash {
			s.used = append(s.used, used{hash: s.current, expires: s.expires})
		} else if !s.exists && e.PreviousHash != "" {
			// session_issued fell out of the auth log's retention.
			s.used = append(s.used, used{hash: e.PreviousHash, expires: e.ExpiresAt})
		}
		s.exists = true
		s.accountID, s.app, s.amr, s.authTime = e.AccountID, e.App, slices.Clone(e.AMR), e.AuthTime
		s.current, s.expires = e.TokenHash, e.ExpiresAt
		s.webApp = cloneWebApp(e.WebApp)
		s.prune(r.Envelope.Time)
	case events.SessionRevoked:
		s.exists = true
		s.revoked, s.reason = true, e.Reason
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*Session) Folds() []events.Event {
	return []events.Event{events.SessionIssued{}, events.SessionRefreshed{}, events.SessionRevoked{}}
}

// prune forgets rotated tokens that expired before at, and the oldest
// beyond MaxUsed.
func (s *Session) prune(at time.Time) {
	s.used = slices.DeleteFunc(s.used, func(u used) bool { return !at.IsZero() && !at.Before(u.expires) })
	if n := len(s.used) - MaxUsed; n > 0 {
		s.used = slices.Delete(s.used, 0, n)
	}
}

// match says which token of the family hash is, comparing every stored
// hash in constant time so the timing tells nothing.
func (s *Session) match(hash string) (current, rotated bool) {
	current = s.current != "" && hashEqual(s.current, hash)
	for _, u := range s.used {
		if hashEqual(u.hash, hash) {
			rotated = true
		}
	}
	return current, rotated
}

func hashEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Issue decides the start of the family: its first token (by hash) and
// who it is for. ttl is the token's lifetime.
func (s *Session) Issue(accountID, app string, amr []string, tokenHash string, now time.Time, ttl time.Duration) ([]events.Event, error) {
	if s.exists {
		return nil, ErrExists
	}
	if accountID == "" || app == "" || tokenHash == "" {
		return nil, domain.Invalid("a session needs an account, an app and a token")
	}
	return []events.Event{events.SessionIssued{
		SessionID: s.id, AccountID: accountID, App: app, TokenHash: tokenHash,
		AMR: slices.Clone(amr), AuthTime: now.UTC(), ExpiresAt: now.Add(ttl).UTC(),
	}}, nil
}

// Authenticate checks a presented token (by hash) at now: nil when it is the
// family's current, unexpired token of an unrevoked family; ErrReused when
// it is a token the family already rotated away while the family is alive
// (the caller then stores DetectReuse's events); ErrInvalid otherwise.
func (s *Session) Authenticate(hash string, now time.Time) error {
	if !s.exists || s.revoked || !now.Before(s.expires) {
		return ErrInvalid
	}
	current, rotated := s.match(hash)
	switch {
	case current:
		return nil
	case rotated:
		return ErrReused
	}
	return ErrInvalid
}

// Rotate decides a refresh: the current token becomes used and nextHash
// becomes current, living ttl from now. Authenticate must have passed.
func (s *Session) Rotate(nextHash string, now time.Time, ttl time.Duration) []events.Event {
	return []events.Event{events.SessionRefreshed{
		SessionID: s.id, AccountID: s.accountID, App: s.app, PreviousHash: s.current, TokenHash: nextHash,
		AMR: slices.Clone(s.amr), AuthTime: s.authTime, ExpiresAt: now.Add(ttl).UTC(), WebApp: cloneWebApp(s.webApp),
	}}
}

// DetectReuse decides what a reused token causes: the reuse is recorded and
// the whole family revoked, so that neither the thief nor the user can go on
// with it.
func (s *Session) DetectReuse(hash string) []events.Event {
	return []events.Event{
		events.SessionReuseDetected{SessionID: s.id, AccountID: s.accountID, TokenHash: hash},
		events.SessionRevoked{SessionID: s.id, AccountID: s.accountID, Reason: events.RevokeReuseDetected},
	}
}

// Revoke decides the end of the family for reason; nothing when it is
// already revoked.
func (s *Session) Revoke(reason string) []events.Event {
	if !s.exists || s.revoked {
		return nil
	}
	return []events.Event{events.SessionRevoked{SessionID: s.id, AccountID: s.accountID, Reason: reason}}
}

// Logout decides a client's revoke with a presented token. It is
// idempotent: the current token of a family that is already revoked or
// expired revokes nothing and is no error. A rotated token of a live family
// is reuse (events plus ErrReused, as with Authenticate); any other token is
// ErrInvalid.
func (s *Session) Logout(hash string, now time.Time) ([]events.Event, error) {
	if !s.exists {
		return nil, ErrInvalid
	}
	current, rotated := s.match(hash)
	dead := s.revoked || !now.Before(s.expires)
	switch {
	case current && dead, rotated && dead:
		return nil, nil
	case current:
		return s.Revoke(events.RevokeLogout), nil
	case rotated:
		return s.DetectReuse(hash), ErrReused
	}
	return nil, ErrInvalid
}
