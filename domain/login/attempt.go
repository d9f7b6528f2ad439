package login

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/bindery/bindery/events"
)

// Kinds of code an attempt is keyed by (AttemptID).
const (
	CodeWeChat      = "code"     // a wx.login code
	CodePhone       = "phone"    // a getPhoneNumber code
	CodeHostNonce   = "nonce"    // the nonce of a host code that verified
	CodeHostInvalid = "hostcode" // a host code that did not verify, whole
)

// AttemptID is the id of one code's login attempt aggregate: hex(sha256 of
// the app, the kind of code and the code). A code is spent by the first
// event of its attempt, so one code logs in at most once.
func AttemptID(app, kind, code string) string { return hashHex(app, kind, code) }

// hashHex is hex(sha256(parts joined by NUL)).
func hashHex(parts ...string) string {
	s := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(s[:])
}

// errBadStatus is a programming error: a pending bind is SOCIAL_BIND or
// USER_REGISTER.
var errBadStatus = errors.New("login: a bind ticket's status is SOCIAL_BIND or USER_REGISTER")

// Attempt is the state of one code's login attempt (aggregate
// login/<AttemptID>). Every event it can hold records an outcome of the
// code — a success, a failure, a pending bind, or its use by another
// code's login — so an attempt with any event is a spent code.
type Attempt struct {
	id      string
	version uint64
}

// NewAttempt returns the state of the attempt with this id whose last event
// in the store has sequence version (0: the code was never seen). A login
// reads only the version (Store.Version), not the events: the version alone
// says whether the code is spent.
func NewAttempt(id string, version uint64) *Attempt { return &Attempt{id: id, version: version} }

// ID is the attempt's aggregate id.
func (a *Attempt) ID() string { return a.id }

// Version is the sequence of the attempt's last event (0: none).
func (a *Attempt) Version() uint64 { return a.version }

// Clone copies the state.
func (a *Attempt) Clone() *Attempt { c := *a; return &c }

// Apply folds one event into the state.
func (a *Attempt) Apply(r events.Record) {
	switch r.Event.(type) {
	case events.LoginSucceeded, events.LoginFailed, events.LoginPendingBind, events.CodeSpent:
		a.version = max(a.version, r.Sequence, 1)
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*Attempt) Folds() []events.Event {
	return []events.Event{events.LoginSucceeded{}, events.LoginFailed{}, events.LoginPendingBind{}, events.CodeSpent{}}
}

// Check refuses a code that was seen before (code_used).
func (a *Attempt) Check() error {
	if a.version > 0 {
		return ErrCodeUsed
	}
	return nil
}

// Succeed decides the code's outcome: the account was found and a session
// started (rule is the match rule that found it).
func (a *Attempt) Succeed(app, accountID, method, rule, sessionID string) ([]events.Event, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	return []events.Event{events.LoginSucceeded{App: app, AccountID: accountID, Method: method, Rule: rule, SessionID: sessionID}}, nil
}

// Fail decides the code's outcome: the login failed for reason (a problem
// code); accountID is the account it concerned, if one was found.
func (a *Attempt) Fail(app, accountID, method, reason string) ([]events.Event, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	return []events.Event{events.LoginFailed{App: app, AccountID: accountID, Method: method, Reason: reason}}, nil
}

// PendBind decides the code's outcome: no account has the proven identity,
// and a bind ticket (its hash) of status SOCIAL_BIND or USER_REGISTER holds
// it until the user binds or registers.
func (a *Attempt) PendBind(app, method, status, ticket string) ([]events.Event, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	if status != StatusSocialBind && status != StatusUserRegister {
		return nil, errBadStatus
	}
	return []events.Event{events.LoginPendingBind{App: app, Method: method, Status: status, Ticket: ticket}}, nil
}

// Spend decides marking the code used by the login whose outcome attempt
// by holds (the wx.login code sent along with a phone code).
func (a *Attempt) Spend(app, method, by string) ([]events.Event, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	return []events.Event{events.CodeSpent{App: app, Method: method, Login: by}}, nil
}
