// Package browsersession holds the browser session aggregate: a browser
// signed in on Bindery's hosted login page, which lets further web apps
// sign in without a new scan (single sign-on). Pure: the clock is passed in.
package browsersession

import (
	"crypto/subtle"
	"slices"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// TTL is how long a browser session signs web apps in.
const TTL = 12 * time.Hour

// ErrNoSession: the cookie names no live browser session.
var ErrNoSession = domain.New(domain.KindUnauthorized, "no_browser_session", "no signed-in browser session")

// Session is the state of one browser session.
type Session struct {
	id         string
	exists     bool
	ended      bool
	accountID  string
	amr        []string
	authTime   time.Time
	expiresAt  time.Time
	cookieHash string
}

// New returns the empty state of the session with this id.
func New(id string) *Session { return &Session{id: id} }

// ID is the session id (the sid of the id_tokens it leads to).
func (s *Session) ID() string { return s.id }

// AccountID is who signed in.
func (s *Session) AccountID() string { return s.accountID }

// AMR is how they signed in.
func (s *Session) AMR() []string { return slices.Clone(s.amr) }

// AuthTime is when they signed in.
func (s *Session) AuthTime() time.Time { return s.authTime }

// Clone copies the state.
func (s *Session) Clone() *Session {
	c := *s
	c.amr = slices.Clone(s.amr)
	return &c
}

// Apply folds one event into the state.
func (s *Session) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case events.BrowserSessionStarted:
		s.exists, s.accountID, s.amr, s.authTime = true, e.AccountID, slices.Clone(e.AMR), e.AuthTime
		s.expiresAt, s.cookieHash = e.ExpiresAt, e.CookieHash
	case events.BrowserSessionEnded:
		s.ended = true
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*Session) Folds() []events.Event {
	return []events.Event{events.BrowserSessionStarted{}, events.BrowserSessionEnded{}}
}

// Start decides a new session for accountID, signed in at authTime by amr,
// whose cookie hashes to cookieHash.
func (s *Session) Start(accountID string, amr []string, authTime time.Time, cookieHash string) ([]events.Event, error) {
	if s.exists {
		return nil, domain.Conflict("a browser session with this id exists")
	}
	if accountID == "" || len(amr) == 0 || authTime.IsZero() || cookieHash == "" {
		return nil, domain.Invalid("a browser session needs an account, how and when it signed in, and a cookie")
	}
	return []events.Event{events.BrowserSessionStarted{
		SessionID: s.id, AccountID: accountID, AMR: slices.Clone(amr), AuthTime: authTime.UTC(),
		CookieHash: cookieHash, ExpiresAt: authTime.Add(TTL).UTC(),
	}}, nil
}

// Check says whether a cookie hashing to cookieHash opens this session at
// now: it exists, has not ended or expired, and the hash matches.
func (s *Session) Check(cookieHash string, now time.Time) error {
	if !s.exists || s.ended || !now.Before(s.expiresAt) ||
		subtle.ConstantTimeCompare([]byte(s.cookieHash), []byte(cookieHash)) != 1 {
		return ErrNoSession
	}
	return nil
}

// End decides that the session signs nobody in any more.
func (s *Session) End(reason string) ([]events.Event, error) {
	if !s.exists || s.ended {
		return nil, ErrNoSession
	}
	return []events.Event{events.BrowserSessionEnded{SessionID: s.id, AccountID: s.accountID, Reason: reason}}, nil
}
