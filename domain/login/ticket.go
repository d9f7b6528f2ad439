package login

import (
	"time"

	"github.com/bindery/bindery/events"
)

// Limits of bind tickets.
const (
	TicketTTL         = 10 * time.Minute
	MaxTicketFailures = 10 // failed bind attempts after which a ticket is dead
	OTPSendGap        = 60 * time.Second
	OTPSendsPerHour   = 5
)

// Ticket is the state of one bind ticket (auth-log aggregate
// ticket/<sha256 of the ticket>).
type Ticket struct {
	id       string
	issued   bool
	status   string
	identity events.ProvenIdentity
	expires  time.Time
	failures int
	used     bool
	otpSends []time.Time
}

// NewTicket returns the empty state of the ticket with this hash.
func NewTicket(id string) *Ticket { return &Ticket{id: id} }

// ID is the ticket's hash.
func (t *Ticket) ID() string { return t.id }

// Status is SOCIAL_BIND or USER_REGISTER.
func (t *Ticket) Status() string { return t.status }

// Identity is what the login that issued the ticket proved.
func (t *Ticket) Identity() events.ProvenIdentity { return t.identity }

// Clone copies the state.
func (t *Ticket) Clone() *Ticket {
	c := *t
	c.otpSends = append([]time.Time(nil), t.otpSends...)
	return &c
}

// Apply folds one event into the state.
func (t *Ticket) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case events.TicketIssued:
		t.issued, t.status, t.identity, t.expires = true, e.Status, e.Identity, e.ExpiresAt
	case events.TicketAttemptFailed:
		t.failures++
	case events.TicketOTPRequested:
		t.otpSends = append(t.otpSends, r.Envelope.Time)
	case events.LoginSucceeded:
		t.used = true
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*Ticket) Folds() []events.Event {
	return []events.Event{events.TicketIssued{}, events.TicketAttemptFailed{}, events.TicketOTPRequested{}, events.LoginSucceeded{}}
}

// Issue decides opening the ticket for what a login proved; a ticket is
// issued once.
func (t *Ticket) Issue(status string, p events.ProvenIdentity, now time.Time) ([]events.Event, error) {
	if t.issued {
		return nil, ErrTicketUsed
	}
	if status != StatusSocialBind && status != StatusUserRegister {
		return nil, errBadStatus
	}
	return []events.Event{events.TicketIssued{Status: status, Identity: p, ExpiresAt: now.Add(TicketTTL).UTC()}}, nil
}

// Check refuses a ticket that cannot be used at now: unknown, expired or
// dead (ticket_expired), or used (ticket_used).
func (t *Ticket) Check(now time.Time) error {
	switch {
	case !t.issued:
		return ErrTicketExpired
	case t.used:
		return ErrTicketUsed
	case t.failures >= MaxTicketFailures, !now.Before(t.expires):
		return ErrTicketExpired
	}
	return nil
}

// Fail decides recording a failed bind attempt; a ticket that cannot be
// used any more records nothing (Check's error).
func (t *Ticket) Fail(method, reason string, now time.Time) ([]events.Event, error) {
	if err := t.Check(now); err != nil {
		return nil, err
	}
	return []events.Event{events.TicketAttemptFailed{Method: method, Reason: reason}}, nil
}

// Use decides spending the ticket on a successful bind or registration.
func (t *Ticket) Use(accountID, method, sessionID string, now time.Time) ([]events.Event, error) {
	if err := t.Check(now); err != nil {
		return nil, err
	}
	return []events.Event{events.LoginSucceeded{App: t.identity.App, AccountID: accountID, Method: method, SessionID: sessionID}}, nil
}

// RequestOTP decides a one-time code request through this ticket: at most
// one per OTPSendGap and OTPSendsPerHour per ticket.
func (t *Ticket) RequestOTP(channel, toHash string, now time.Time) ([]events.Event, error) {
	if err := t.Check(now); err != nil {
		return nil, err
	}
	if err := sendLimit(t.otpSends, now); err != nil {
		return nil, err
	}
	return []events.Event{events.TicketOTPRequested{Channel: channel, ToHash: toHash}}, nil
}

// sendLimit applies the one-per-gap and per-hour limits to earlier sends.
func sendLimit(sends []time.Time, now time.Time) error {
	if n := len(sends); n > 0 {
		if wait := sends[n-1].Add(OTPSendGap).Sub(now); wait > 0 {
			return RateLimited(wait, "a one-time code was sent less than %s ago", OTPSendGap)
		}
	}
	var recent []time.Time
	for _, s := range sends {
		if now.Sub(s) < time.Hour {
			recent = append(recent, s)
		}
	}
	if len(recent) >= OTPSendsPerHour {
		return RateLimited(recent[len(recent)-OTPSendsPerHour].Add(time.Hour).Sub(now), "at most %d one-time codes an hour", OTPSendsPerHour)
	}
	return nil
}
