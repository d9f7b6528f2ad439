package login

import (
	"crypto/subtle"
	"strings"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Limits of one-time codes.
const (
	OTPTTL      = 5 * time.Minute
	OTPMaxTries = 5
	OTPDigits   = 6
)

// OTP is the state of the one-time codes sent to one address (auth-log
// aggregate otp/<sha256 of channel and address>): when codes went out and
// to whom (the per-address limits, see fair.go) and the current code of
// each ticket.
type OTP struct {
	id    string
	sends []otpSend          // the last hour's, oldest first
	codes map[string]otpCode // by ticket hash
}

type otpCode struct {
	hash    string
	expires time.Time
	tries   int
	done    bool
}

// NewOTP returns the empty state of the address with this hash.
func NewOTP(id string) *OTP { return &OTP{id: id} }

// Clone copies the state.
func (o *OTP) Clone() *OTP {
	c := *o
	c.sends = append([]otpSend(nil), o.sends...)
	c.codes = make(map[string]otpCode, len(o.codes))
	for k, v := range o.codes {
		c.codes[k] = v
	}
	return &c
}

// Apply folds one event into the state, forgetting what no limit or code
// needs any more so the state stays small.
func (o *OTP) Apply(r events.Record) {
	at := r.Envelope.Time
	if o.codes == nil {
		o.codes = map[string]otpCode{}
	}
	switch e := r.Event.(type) {
	case events.OTPSent:
		requester := e.Requester
		if requester == "" {
			requester = e.Ticket // sent before requesters were recorded
		}
		o.sends = append(o.sends, otpSend{at: at, requester: requester})
		o.codes[codeOwner(e.Ticket, e.Authorization)] = otpCode{hash: e.CodeHash, expires: e.ExpiresAt}
	case events.OTPFailed:
		k := codeOwner(e.Ticket, e.Authorization)
		if c, ok := o.codes[k]; ok {
			c.tries++
			o.codes[k] = c
		}
	case events.OTPVerified:
		k := codeOwner(e.Ticket, e.Authorization)
		if c, ok := o.codes[k]; ok {
			c.done = true
			o.codes[k] = c
		}
	}
	for len(o.sends) > 0 && at.Sub(o.sends[0].at) >= time.Hour {
		o.sends = o.sends[1:]
	}
	for k, c := range o.codes {
		if at.Sub(c.expires) > TicketTTL {
			delete(o.codes, k)
		}
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*OTP) Folds() []events.Event {
	return []events.Event{events.OTPSent{}, events.OTPFailed{}, events.OTPVerified{}}
}

// Send decides sending a new code (its hash, codeHash) to the address for a
// ticket of app, asked by requester (RequesterID of the ticket's identity);
// it replaces the ticket's previous code. The address's limits are fair
// shares (fairLimit): what one requester sends never refuses another
// requester's first code of the hour.
func (o *OTP) Send(app string, to Contact, ticket, requester, codeHash string, now time.Time) ([]events.Event, error) {
	if err := o.fairLimit(requester, now); err != nil {
		return nil, err
	}
	return []events.Event{events.OTPSent{
		App: app, Channel: to.Channel, To: to.Masked(), Ticket: ticket, Requester: requester, CodeHash: codeHash,
		ExpiresAt: now.Add(OTPTTL).UTC(),
	}}, nil
}

// Verify decides a code entry for a ticket: otp_verified when codeHash
// matches the ticket's current code; otp_failed and the invalid_otp error
// (saying how many tries are left) when it does not — the caller records
// the event and then answers the error. A missing, expired, used or
// exhausted code is ErrOTPExpired, with nothing to record.
func (o *OTP) Verify(ticket, codeHash string, now time.Time) ([]events.Event, error) {
	return o.verify(ticket, "", codeHash, now)
}

// verify is Verify for the code of a ticket or of an authorization request.
func (o *OTP) verify(ticket, authorization, codeHash string, now time.Time) ([]events.Event, error) {
	c, found := o.codes[codeOwner(ticket, authorization)]
	if !found || c.done || c.tries >= OTPMaxTries || !now.Before(c.expires) {
		return nil, ErrOTPExpired
	}
	if subtle.ConstantTimeCompare([]byte(c.hash), []byte(codeHash)) == 1 {
		return []events.Event{events.OTPVerified{Ticket: ticket, Authorization: authorization}}, nil
	}
	left := OTPMaxTries - c.tries - 1
	return []events.Event{events.OTPFailed{Ticket: ticket, Authorization: authorization, TriesLeft: left}},
		domain.New(domain.KindValidation, ErrInvalidOTP.Code, "wrong one-time code; %d tries left", left)
}

// codeOwner keys the codes of an address: by the ticket's hash, or by the
// authorization request whose login page asked for the code.
func codeOwner(ticket, authorization string) string {
	if ticket != "" {
		return ticket
	}
	return "authorization:" + authorization
}

// PasswordGuard is the state of one account's failed password attempts
// (auth-log aggregate login/acct_<account id>), kept for the last hour.
type PasswordGuard struct {
	id    string
	fails []time.Time
}

// Limits of password attempts per account (ASVS V2.2.1).
const (
	MaxPasswordFailures = 100
	PasswordWindow      = time.Hour
)

// GuardID is the aggregate id of an account's password guard.
func GuardID(accountID string) string { return "acct_" + accountID }

// VerifyGuardID is the aggregate id of the password guard of a username at
// a verify-mode app (the account is not known before the customer's API
// answers).
func VerifyGuardID(app, username string) string {
	return "vusr_" + hashHex(app, strings.ToLower(username))[:40]
}

// NewPasswordGuard returns the empty state of the guard with this id.
func NewPasswordGuard(id string) *PasswordGuard { return &PasswordGuard{id: id} }

// Clone copies the state.
func (g *PasswordGuard) Clone() *PasswordGuard {
	c := *g
	c.fails = append([]time.Time(nil), g.fails...)
	return &c
}

// Apply folds one event into the state.
func (g *PasswordGuard) Apply(r events.Record) {
	if _, ok := r.Event.(events.LoginFailed); !ok {
		return
	}
	at := r.Envelope.Time
	g.fails = append(g.fails, at)
	for len(g.fails) > 0 && at.Sub(g.fails[0]) >= PasswordWindow {
		g.fails = g.fails[1:]
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*PasswordGuard) Folds() []events.Event {
	return []events.Event{events.LoginFailed{}}
}

// Check refuses any attempt, right or wrong, while the account has
// MaxPasswordFailures failures within the last PasswordWindow.
func (g *PasswordGuard) Check(now time.Time) error {
	var recent []time.Time
	for _, f := range g.fails {
		if now.Sub(f) < PasswordWindow {
			recent = append(recent, f)
		}
	}
	if len(recent) >= MaxPasswordFailures {
		return TooManyAttempts(recent[len(recent)-MaxPasswordFailures].Add(PasswordWindow).Sub(now))
	}
	return nil
}

// Fail decides recording a failed password attempt.
func (g *PasswordGuard) Fail(app, accountID, method string) []events.Event {
	return []events.Event{events.LoginFailed{App: app, AccountID: accountID, Method: method, Reason: "wrong_password"}}
}
