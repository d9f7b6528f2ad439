// Package qrlogin holds the QR login aggregate: a PC asks to be logged in,
// a logged-in mini-program user scans the code, sees who asked, and
// confirms or cancels; the PC, holding the poll token, collects the login
// once. It is modelled on a device-authorisation flow: every step checks
// the state first and refuses a step already taken, and expiry is decided
// on the clock passed in. Pure: no I/O, the poll token arrives hashed.
package qrlogin

import (
	"crypto/subtle"
	"regexp"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// State is where a QR session is.
type State string

// States of a QR session. CONSUMED, CANCELLED and EXPIRED are final.
const (
	Pending   State = "PENDING"
	Scanned   State = "SCANNED"
	Confirmed State = "CONFIRMED"
	Consumed  State = "CONSUMED"
	Cancelled State = "CANCELLED"
	Expired   State = "EXPIRED"
)

// Final reports whether nothing can happen to a session in this state.
func (s State) Final() bool { return s == Consumed || s == Cancelled || s == Expired }

// Errors of the QR aggregate. A step not allowed in the current state is a
// 409 qr_state (see StateError); a session that is over is a 410.
var (
	ErrNotFound  = domain.New(domain.KindNotFound, "qr_not_found", "no QR login with this id")
	ErrExpired   = domain.New(domain.KindGone, "qr_expired", "the QR login expired; start a new one")
	ErrCancelled = domain.New(domain.KindGone, "qr_cancelled", "the QR login was cancelled")
	ErrConsumed  = domain.New(domain.KindGone, "qr_consumed", "the QR login was already used")
	// ErrNotScanner: only the user who scanned may confirm or cancel.
	ErrNotScanner = domain.New(domain.KindForbidden, "qr_not_scanner", "only the user who scanned this QR code may confirm or cancel it")
	// ErrPollToken: the presented poll token is not this session's.
	ErrPollToken = domain.New(domain.KindForbidden, "poll_token_invalid", "the poll token does not belong to this QR login")
	// ErrBound: the QR login belongs to an OIDC authorization request; it
	// hands no tokens to whoever polls, it only completes that request.
	ErrBound = domain.New(domain.KindConflict, "qr_bound", "this QR login signs a browser in to a web app; it hands out no tokens")
	// ErrExists: Create on an id that is taken.
	ErrExists = domain.New(domain.KindConflict, "conflict", "a QR login with this id exists")
)

// StateCode is the code of every refusal of a step in a state that does
// not allow it.
const StateCode = "qr_state"

// StateError is the 409 of a step not allowed in state s; the message
// names the state.
func StateError(step string, s State) *domain.Error {
	return domain.New(domain.KindConflict, StateCode, "cannot %s: the QR login is %s", step, s)
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// ValidID reports whether id has the form of a QR id: 22 characters of
// base64url (128 bits). Such ids fit a wxacode scene and a NATS subject.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Requester is the PC that asked for the login, shown to the user who
// scans so that a relayed QR code can be spotted.
type Requester struct {
	IP        string
	UserAgent string
	CreatedAt time.Time
}

// QR is the state of one QR login session.
type QR struct {
	id         string
	exists     bool
	state      State
	app        string
	requester  Requester
	expiresAt  time.Time
	pollHash   string
	scanner    string // account id of the user who scanned
	scannerApp string
	sessionID  string
	// authorization and client are set for a QR bound to an OIDC
	// authorization request.
	authorization string
	client        string
}

// New returns the empty state of the session with this id.
func New(id string) *QR { return &QR{id: id} }

// ID is the QR id.
func (q *QR) ID() string { return q.id }

// Exists reports whether the session was created.
func (q *QR) Exists() bool { return q.exists }

// App is the app the PC logs in to.
func (q *QR) App() string { return q.app }

// Requester is who asked.
func (q *QR) Requester() Requester { return q.requester }

// ExpiresAt is when an open session expires.
func (q *QR) ExpiresAt() time.Time { return q.expiresAt }

// Scanner is the account that scanned ("" before a scan) and the app of
// its id_token.
func (q *QR) Scanner() (accountID, app string) { return q.scanner, q.scannerApp }

// SessionID is the session family issued when the login was consumed.
func (q *QR) SessionID() string { return q.sessionID }

// Authorization is the OIDC authorization request the QR login is bound
// to, and its client ("" for a plain PC login).
func (q *QR) Authorization() (authorizationID, clientID string) { return q.authorization, q.client }

// PollTokenHash is the stored hash of the PC's poll token.
func (q *QR) PollTokenHash() string { return q.pollHash }

// Recorded is the state as the events recorded it (an open session past
// its TTL is still open here; see StateAt).
func (q *QR) Recorded() State { return q.state }

// StateAt is the state at now: an open session past its TTL is EXPIRED
// even before a qr_expired event records it.
func (q *QR) StateAt(now time.Time) State {
	if !q.state.Final() && q.exists && !now.Before(q.expiresAt) {
		return Expired
	}
	return q.state
}

// Clone copies the state.
func (q *QR) Clone() *QR {
	c := *q
	return &c
}

// Apply folds one event into the state.
func (q *QR) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case events.QRCreated:
		q.exists, q.state, q.app = true, Pending, e.App
		q.requester = Requester{IP: e.RequesterIP, UserAgent: e.UserAgent, CreatedAt: e.CreatedAt}
		q.expiresAt, q.pollHash = e.ExpiresAt, e.PollTokenHash
		q.authorization, q.client = e.AuthorizationID, e.ClientID
	case events.QRScanned:
		q.state, q.scanner, q.scannerApp = Scanned, e.AccountID, e.ScannerApp
	case events.QRConfirmed:
		q.state = Confirmed
	case events.QRConsumed:
		q.state, q.sessionID = Consumed, e.SessionID
	case events.QRCancelled:
		q.state = Cancelled
	case events.QRExpired:
		q.state = Expired
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*QR) Folds() []events.Event {
	return []events.Event{events.QRCreated{}, events.QRScanned{}, events.QRConfirmed{}, events.QRConsumed{}, events.QRCancelled{}, events.QRExpired{}}
}

// Create decides the start of a session for app, requested by req,
// readable with the poll token whose hash is pollHash, open for ttl.
func (q *QR) Create(app string, req Requester, pollHash string, ttl time.Duration) ([]events.Event, error) {
	if q.exists {
		return nil, ErrExists
	}
	if app == "" || pollHash == "" || ttl <= 0 || req.CreatedAt.IsZero() {
		return nil, domain.Invalid("a QR login needs an app, a poll token, a lifetime and a creation time")
	}
	return []events.Event{events.QRCreated{
		QRID: q.id, App: app, RequesterIP: req.IP, UserAgent: req.UserAgent, PollTokenHash: pollHash,
		CreatedAt: req.CreatedAt.UTC(), ExpiresAt: req.CreatedAt.Add(ttl).UTC(),
	}}, nil
}

// CreateFor is Create for a QR login bound to the OIDC authorization
// request authorizationID of clientID.
func (q *QR) CreateFor(app string, req Requester, pollHash string, ttl time.Duration, authorizationID, clientID string) ([]events.Event, error) {
	if authorizationID == "" || clientID == "" {
		return nil, domain.Invalid("a bound QR login needs an authorization request and its client")
	}
	evs, err := q.Create(app, req, pollHash, ttl)
	if err != nil {
		return nil, err
	}
	c := evs[0].(events.QRCreated)
	c.AuthorizationID, c.ClientID = authorizationID, clientID
	return []events.Event{c}, nil
}

// check refuses any step on a session that does not exist or is over. An
// open session past its TTL is refused with ErrExpired together with the
// qr_expired event that records it (the caller stores the events and
// answers the error).
func (q *QR) check(now time.Time) ([]events.Event, error) {
	if !q.exists {
		return nil, ErrNotFound
	}
	if evs := q.Expire(now); evs != nil {
		return evs, ErrExpired
	}
	switch q.state {
	case Consumed:
		return nil, ErrConsumed
	case Cancelled:
		return nil, ErrCancelled
	case Expired:
		return nil, ErrExpired
	}
	return nil, nil
}

// Expire decides the qr_expired event of an open session past its TTL at
// now; nil otherwise.
func (q *QR) Expire(now time.Time) []events.Event {
	if !q.exists || q.state.Final() || now.Before(q.expiresAt) {
		return nil
	}
	return []events.Event{events.QRExpired{QRID: q.id, State: string(q.state), ExpiresAt: q.expiresAt}}
}

// Scan decides that the user accountID (logged in to scannerApp) scanned
// the code. Only a PENDING session can be scanned, once.
func (q *QR) Scan(accountID, scannerApp string, now time.Time) ([]events.Event, error) {
	if evs, err := q.check(now); err != nil {
		return evs, err
	}
	if accountID == "" {
		return nil, domain.Invalid("a scan needs an account")
	}
	if q.state != Pending {
		return nil, StateError("scan", q.state)
	}
	return []events.Event{events.QRScanned{QRID: q.id, AccountID: accountID, ScannerApp: scannerApp}}, nil
}

// Confirm decides that the user accountID approved the PC's login. Only
// the user who scanned can, once, on a SCANNED session.
func (q *QR) Confirm(accountID string, now time.Time) ([]events.Event, error) {
	if evs, err := q.byScanner("confirm", accountID, now); err != nil {
		return evs, err
	}
	return []events.Event{events.QRConfirmed{QRID: q.id, AccountID: accountID}}, nil
}

// Cancel decides that the user accountID refused the PC's login. Only the
// user who scanned can, on a SCANNED session (a confirmed login can no
// longer be taken back: the PC may already hold its tokens).
func (q *QR) Cancel(accountID string, now time.Time) ([]events.Event, error) {
	if evs, err := q.byScanner("cancel", accountID, now); err != nil {
		return evs, err
	}
	return []events.Event{events.QRCancelled{QRID: q.id, AccountID: accountID}}, nil
}

// byScanner checks a step that only the scanning user may take on a
// SCANNED session (with the qr_expired event when it finds it expired).
func (q *QR) byScanner(step, accountID string, now time.Time) ([]events.Event, error) {
	if evs, err := q.check(now); err != nil {
		return evs, err
	}
	if q.state == Pending {
		return nil, StateError(step+" before a scan", q.state)
	}
	if accountID == "" || accountID != q.scanner {
		return nil, ErrNotScanner
	}
	if q.state != Scanned {
		return nil, StateError(step, q.state)
	}
	return nil, nil
}

// CheckPollToken says whether pollHash is the hash of this session's poll
// token, comparing in constant time.
func (q *QR) CheckPollToken(pollHash string) error {
	if !q.exists {
		return ErrNotFound
	}
	if subtle.ConstantTimeCompare([]byte(q.pollHash), []byte(pollHash)) != 1 {
		return ErrPollToken
	}
	return nil
}

// Consume decides that the PC holding the poll token (by hash) collects a
// CONFIRMED login with the session family sessionID, started for
// accountID. It succeeds once: the next call finds CONSUMED.
func (q *QR) Consume(pollHash, accountID, sessionID string, now time.Time) ([]events.Event, error) {
	if err := q.CheckPollToken(pollHash); err != nil {
		return nil, err
	}
	if q.authorization != "" {
		return nil, ErrBound
	}
	return q.consume(accountID, sessionID, now)
}

// ConsumeFor decides that the browser holding the poll token completes the
// OIDC authorization request the QR is bound to with the CONFIRMED login.
// It succeeds once, like Consume.
func (q *QR) ConsumeFor(authorizationID, pollHash, accountID, sessionID string, now time.Time) ([]events.Event, error) {
	if err := q.CheckPollToken(pollHash); err != nil {
		return nil, err
	}
	if q.authorization == "" || q.authorization != authorizationID {
		return nil, ErrNotFound
	}
	return q.consume(accountID, sessionID, now)
}

func (q *QR) consume(accountID, sessionID string, now time.Time) ([]events.Event, error) {
	if evs, err := q.check(now); err != nil {
		return evs, err
	}
	if q.state != Confirmed {
		return nil, StateError("collect the login", q.state)
	}
	if accountID != q.scanner || sessionID == "" {
		return nil, domain.Invalid("the session must be for the account that confirmed")
	}
	return []events.Event{events.QRConsumed{QRID: q.id, AccountID: accountID, SessionID: sessionID}}, nil
}
