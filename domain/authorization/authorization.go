// Package authorization holds the OIDC authorization request aggregate:
// one authorization code flow from the browser's arrival to the code's
// single exchange. Pure: the clock and ids are passed in.
package authorization

import (
	"maps"
	"slices"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Lifetimes of a request and of its code.
const (
	RequestTTL = 10 * time.Minute
	CodeTTL    = 60 * time.Second
)

// State is where a request stands.
type State string

// States of a request.
const (
	Requested State = "REQUESTED"
	Granted   State = "GRANTED"
	Denied    State = "DENIED"
	Exchanged State = "EXCHANGED"
)

// Errors of the authorization aggregate.
var (
	ErrNotFound     = domain.New(domain.KindNotFound, "authorization_not_found", "no authorization request with this id")
	ErrExpired      = domain.New(domain.KindGone, "authorization_expired", "the sign-in took too long; start again from the web app")
	ErrFinished     = domain.New(domain.KindConflict, "authorization_finished", "this sign-in is already finished")
	ErrPKCERequired = domain.New(domain.KindValidation, "invalid_request", "a public client must send a PKCE code_challenge with code_challenge_method=S256")
	// ErrCodeInvalid: the code is unknown, expired, already used, or the
	// request was not granted; the token endpoint answers invalid_grant.
	ErrCodeInvalid = domain.New(domain.KindValidation, "invalid_grant", "the authorization code is invalid, expired or already used")
)

// Request is what the authorization endpoint records.
type Request struct {
	ClientID, App, RedirectURI string
	PublicClient               bool
	Scopes                     []string
	StateSealed, Nonce         string
	CodeChallenge, Method      string
	ResponseMode               string
	Prompt                     []string
	MaxAge                     *int64
	LoginHint, HintSubject     string
}

// Authorization is the state of one authorization request.
type Authorization struct {
	id        string
	state     State
	req       events.AuthorizationRequested
	granted   events.AuthorizationGranted
	expiresAt time.Time
	tokenID   string
	familyID  string
	// revoked holds the jtis of revoked access tokens until they expire;
	// grantRevoked ends every token of the request (its code was reused).
	revoked      map[string]time.Time
	grantRevoked bool
	device       *events.DeviceAuthorizationRequested // set for a device's request (device.go)
	// signInFailures and otpSends count the hosted login page's password
	// and one-time-code attempts (signin.go).
	signInFailures int
	otpSends       []time.Time
}

// New returns the empty state of the request with this id.
func New(id string) *Authorization { return &Authorization{id: id} }

// ID is the authorization request id.
func (a *Authorization) ID() string { return a.id }

// Exists reports whether the request was recorded.
func (a *Authorization) Exists() bool { return a.state != "" }

// State is where the request stands.
func (a *Authorization) State() State { return a.state }

// Requested is the recorded request.
func (a *Authorization) Requested() events.AuthorizationRequested { return a.req }

// Grant is who signed in (zero before the grant).
func (a *Authorization) Grant() events.AuthorizationGranted { return a.granted }

// TokenID is the id of the access token the code was exchanged for.
func (a *Authorization) TokenID() string { return a.tokenID }

// Clone copies the state.
func (a *Authorization) Clone() *Authorization {
	c := *a
	c.req.Scopes = slices.Clone(a.req.Scopes)
	c.granted.AMR = slices.Clone(a.granted.AMR)
	c.revoked = maps.Clone(a.revoked)
	c.otpSends = slices.Clone(a.otpSends)
	if a.device != nil {
		d := *a.device
		c.device = &d
	}
	return &c
}

// Apply folds one event into the state.
func (a *Authorization) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case events.AuthorizationRequested:
		a.state, a.req, a.expiresAt = Requested, e, e.ExpiresAt
	case events.DeviceAuthorizationRequested:
		a.applyDevice(e)
	case events.AuthorizationGranted:
		a.state, a.granted = Granted, e
	case events.AuthorizationDenied:
		a.state = Denied
	case events.CodeExchanged:
		a.state, a.tokenID, a.familyID = Exchanged, e.TokenID, e.SessionID
	case events.TokenRevoked:
		a.applyRevoked(e, r.Envelope.Time)
	case events.AuthorizationSignInFailed:
		a.signInFailures++
	case events.AuthorizationOTPRequested:
		a.otpSends = append(a.otpSends, r.Envelope.Time)
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*Authorization) Folds() []events.Event {
	return []events.Event{events.AuthorizationRequested{}, events.DeviceAuthorizationRequested{}, events.AuthorizationGranted{}, events.AuthorizationDenied{}, events.CodeExchanged{}, events.TokenRevoked{}, events.AuthorizationSignInFailed{}, events.AuthorizationOTPRequested{}}
}

// Record decides a new request at now. A public client must use PKCE S256.
func (a *Authorization) Record(r Request, now time.Time) ([]events.Event, error) {
	if a.Exists() {
		return nil, domain.Conflict("an authorization request with this id exists")
	}
	if r.PublicClient && (r.CodeChallenge == "" || r.Method != "S256") {
		return nil, ErrPKCERequired
	}
	if r.CodeChallenge != "" && r.Method != "S256" {
		return nil, domain.New(domain.KindValidation, "invalid_request", "code_challenge_method must be S256")
	}
	return []events.Event{events.AuthorizationRequested{
		AuthorizationID: a.id, ClientID: r.ClientID, App: r.App, RedirectURI: r.RedirectURI,
		Scopes: slices.Clone(r.Scopes), StateSealed: r.StateSealed, Nonce: r.Nonce,
		CodeChallenge: r.CodeChallenge, CodeChallengeMethod: r.Method, ResponseMode: r.ResponseMode,
		Prompt: slices.Clone(r.Prompt), MaxAge: r.MaxAge, LoginHint: r.LoginHint, HintSubject: r.HintSubject,
		RequestedAt: now.UTC(), ExpiresAt: now.Add(RequestTTL).UTC(),
	}}, nil
}

// open refuses a step on a request that is unknown, finished or expired.
func (a *Authorization) open(now time.Time) error {
	switch {
	case !a.Exists():
		return ErrNotFound
	case a.state != Requested:
		return ErrFinished
	case !now.Before(a.expiresAt):
		return ErrExpired
	}
	return nil
}

// Open reports whether the request still waits for a sign-in at now.
func (a *Authorization) Open(now time.Time) error { return a.open(now) }

// Approve decides that accountID signed in (how: amr, when: authTime) in
// the browser session sessionID, through the QR login qrID ("" for none).
func (a *Authorization) Approve(accountID, sessionID string, amr []string, authTime time.Time, qrID string, now time.Time) ([]events.Event, error) {
	if err := a.open(now); err != nil {
		return nil, err
	}
	if accountID == "" || sessionID == "" || len(amr) == 0 || authTime.IsZero() {
		return nil, domain.Invalid("a grant needs an account, a session, how and when they signed in")
	}
	return []events.Event{events.AuthorizationGranted{
		AuthorizationID: a.id, ClientID: a.req.ClientID, AccountID: accountID, SessionID: sessionID,
		AMR: slices.Clone(amr), AuthTime: authTime.UTC(), QRID: qrID, GrantedAt: now.UTC(),
	}}, nil
}

// Reuses reports whether a browser already signed in as accountID at
// authTime answers the request without a new sign-in at now: not with
// prompt=login, not past max_age, and only as the id_token_hint's subject.
func (a *Authorization) Reuses(accountID string, authTime, now time.Time) bool {
	r := a.req
	switch {
	case slices.Contains(r.Prompt, "login"):
		return false
	case r.MaxAge != nil && now.Sub(authTime) > time.Duration(*r.MaxAge)*time.Second:
		return false
	case r.HintSubject != "" && r.HintSubject != accountID:
		return false
	}
	return true
}

// Deny decides that the request ends without a code, for reason (an OAuth
// error code such as access_denied).
func (a *Authorization) Deny(reason, accountID string, now time.Time) ([]events.Event, error) {
	if !a.Exists() {
		return nil, ErrNotFound
	}
	if a.state != Requested {
		return nil, ErrFinished
	}
	return []events.Event{events.AuthorizationDenied{AuthorizationID: a.id, ClientID: a.req.ClientID, AccountID: accountID, Reason: reason}}, nil
}

// CheckCode says whether the request's code may be exchanged at now: it
// was granted, not yet exchanged, at most CodeTTL ago.
func (a *Authorization) CheckCode(now time.Time) error {
	if a.state != Granted || now.Sub(a.granted.GrantedAt) > CodeTTL {
		return ErrCodeInvalid
	}
	return nil
}

// Exchange decides the code's one exchange by clientID, issuing the access
// token tokenID and, when familyID is not "", starting that family of
// refresh tokens.
func (a *Authorization) Exchange(clientID, tokenID, familyID string, now time.Time) ([]events.Event, error) {
	if err := a.CheckCode(now); err != nil {
		return nil, err
	}
	if clientID != a.req.ClientID {
		return nil, ErrCodeInvalid
	}
	return []events.Event{events.CodeExchanged{AuthorizationID: a.id, ClientID: clientID, AccountID: a.granted.AccountID, TokenID: tokenID, SessionID: familyID}}, nil
}
