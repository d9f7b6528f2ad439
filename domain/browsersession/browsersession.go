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
	clients    []string // the web apps signed in through it, in order
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

// Clients are the web apps signed in through the session.
func (s *Session) Clients() []string { return slices.Clone(s.clients) }

// Clone copies the state.
func (s *Session) Clone() *Session {
	c := *s
	c.amr = slices.Clone(s.amr)
	c.clients = slices.Clone(s.clients)
	return &c
}

// Apply folds one event into the state.
func (s *Session) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case events.BrowserSessionStarted:
		s.exists, s.accountID, s.amr, s.authTime = true, e.AccountID, slices.Clone(e.AMR), e.AuthTime
		s.expiresAt, s.cookieHash = e.ExpiresAt, e.CookieHash
		if e.ClientID != "" {
			s.clients = []string{e.ClientID}
		}
	case events.BrowserSessionJoined:
		if !slices.Contains(s.clients, e.ClientID) {
			s.clients = append(s.clients, e.ClientID)
		}
	case events.BrowserSessionEnded:
		s.ended = true
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*Session) Folds() []events.Event {
	return []events.Event{events.BrowserSessionStarted{}, events.BrowserSessionJoined{}, events.BrowserSessionEnded{}}
}

// Start decides a new session for accountID, signed in to clientID at
// authTime by amr, whose cookie hashes to cookieHash.
func (s *Session) Start(accountID, clientID string, amr []string, authTime time.Time, cookieHash string) ([]events.Event, error) {
	if s.exists {
		return nil, domain.Conflict("a browser session with this id exists")
	}
	if accountID == "" || len(amr) == 0 || authTime.IsZero() || cookieHash == "" {
		return nil, domain.Invalid("a browser session needs an account, how and when it signed in, and a cookie")
	}
	return []events.Event{events.BrowserSessionStarted{
		SessionID: s.id, AccountID: accountID, ClientID: clientID, AMR: slices.Clone(amr), AuthTime: authTime.UTC(),
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

// Join decides that clientID signed in through the session (single
// sign-on): nothing to record for a client it already knows.
func (s *Session) Join(clientID string) ([]events.Event, error) {
	if !s.exists || s.ended {
		return nil, ErrNoSession
	}
	if clientID == "" || slices.Contains(s.clients, clientID) {
		return nil, nil
	}
	return []events.Event{events.BrowserSessionJoined{SessionID: s.id, AccountID: s.accountID, ClientID: clientID}}, nil
}

// End decides that the session signs nobody in any more; the event names
// the clients signed in through it, whom back-channel logout tells.
func (s *Session) End(reason string) ([]events.Event, error) {
	if !s.exists || s.ended {
		return nil, ErrNoSession
	}
	clients := slices.Clone(s.clients)
	slices.Sort(clients)
	return []events.Event{events.BrowserSessionEnded{SessionID: s.id, AccountID: s.accountID, Reason: reason, ClientIDs: clients}}, nil
}

// EndableBy says whether an RP holding an id_token of accountID for this
// session (its sid) may end it without the browser's cookie: the session
// is live-or-expired but not ended, and the token's subject is its account.
func (s *Session) EndableBy(accountID string) bool {
	return s.exists && !s.ended && accountID != "" && accountID == s.accountID
}
