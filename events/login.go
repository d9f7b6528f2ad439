package events

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Login, binding and one-time-code events. Bindings live on the account
// (history stream) and claim their identity atomically; everything about
// one login attempt, bind ticket or one-time code lives in the auth log:
//
//	login/<sha256 of app and code>   one wx.login / phone / host code: its outcome
//	login/acct_<account id>          failed password attempts of one account
//	ticket/<sha256 of the ticket>    a bind ticket: the proven identity, failures, use
//	otp/<sha256 of channel and to>   one-time codes sent to one address
//
// None of them holds a secret: codes, tickets and OTPs appear only hashed,
// the WeChat session_key never.

// Binding kinds (also claim kinds).
const (
	BindingOpenID  = ClaimOpenID
	BindingUnionID = ClaimUnionID
	BindingHostUID = ClaimHostUID
)

// BoundIdentity is one identity attached to an account: a WeChat openid of
// an app, a unionid (all apps of one open platform), or a host app's user id.
type BoundIdentity struct {
	BindingID string `json:"binding_id"`
	Kind      string `json:"kind"`          // openid, unionid, host_uid
	App       string `json:"app,omitempty"` // the app that proved it
	Subject   string `json:"subject"`       // the openid, unionid or host user id
}

// ClaimValue is the unique value the binding holds: app|openid, unionid, or
// app|uid.
func (b BoundIdentity) ClaimValue() string {
	if b.Kind == BindingUnionID {
		return b.Subject
	}
	return b.App + "|" + b.Subject
}

// NewBoundIdentity fills in the binding id, derived from the claim so that
// one identity always has the same id.
func NewBoundIdentity(kind, app, subject string) BoundIdentity {
	b := BoundIdentity{Kind: kind, App: app, Subject: subject}
	sum := sha256.Sum256([]byte(kind + "\x00" + b.ClaimValue()))
	b.BindingID = hex.EncodeToString(sum[:12])
	return b
}

// IdentityBound: an identity was attached to the account (Method says how
// the user proved the account: password, otp, phone, register, ...).
type IdentityBound struct {
	AccountID string `json:"account_id"`
	BoundIdentity
	Method string `json:"method"`
}

// EventName implements Event.
func (IdentityBound) EventName() string { return "identity_bound" }

// UniqueConstraints claims the identity for the account.
func (e IdentityBound) UniqueConstraints() []Constraint {
	return []Constraint{{Kind: e.Kind, Value: e.ClaimValue(), Owner: e.AccountID}}
}

// IdentityUnbound: an identity was detached (admin unbind); its claim is
// released so that it can be bound again.
type IdentityUnbound struct {
	AccountID string `json:"account_id"`
	BoundIdentity
	Reason string `json:"reason,omitempty"`
}

// EventName implements Event.
func (IdentityUnbound) EventName() string { return "identity_unbound" }

// UniqueConstraints releases the identity's claim.
func (e IdentityUnbound) UniqueConstraints() []Constraint {
	return []Constraint{{Kind: e.Kind, Value: e.ClaimValue(), Owner: e.AccountID, Release: true}}
}

// AttributesBackfilled: a later match rule found the account, so the
// identifiers of the earlier rules were written onto it (bindings, and
// profile values the account did not have yet), so that the next login
// matches on the first rule.
type AttributesBackfilled struct {
	AccountID  string          `json:"account_id"`
	App        string          `json:"app"`
	Rule       string          `json:"rule"` // the rule that found the account
	Bindings   []BoundIdentity `json:"bindings,omitempty"`
	Phone      string          `json:"phone,omitempty"`
	Email      string          `json:"email,omitempty"`
	ExternalID string          `json:"external_id,omitempty"`
}

// EventName implements Event.
func (AttributesBackfilled) EventName() string { return "attributes_backfilled" }

// UniqueConstraints claims every back-filled value for the account.
func (e AttributesBackfilled) UniqueConstraints() []Constraint {
	var cs []Constraint
	for _, b := range e.Bindings {
		cs = append(cs, Constraint{Kind: b.Kind, Value: b.ClaimValue(), Owner: e.AccountID})
	}
	add := func(kind, v string) {
		if v != "" {
			cs = append(cs, Constraint{Kind: kind, Value: v, Owner: e.AccountID})
		}
	}
	add(ClaimPhone, e.Phone)
	add(ClaimEmail, e.Email)
	add(ClaimExternalID, e.ExternalID)
	return cs
}

// AccountRegistered: a user created the account themselves from a bind
// ticket (stored with the account_created and identity_bound events that
// make it).
type AccountRegistered struct {
	AccountID string `json:"account_id"`
	App       string `json:"app"`
	Method    string `json:"method"` // register, phone, otp
}

// EventName implements Event.
func (AccountRegistered) EventName() string { return "account_registered" }

// AccountVerified: the customer's account API (an app's verify source)
// vouched for the account; what it answered is recorded here (the profile
// values it brought are in the account_created/account_updated beside it).
type AccountVerified struct {
	AccountID  string   `json:"account_id"`
	App        string   `json:"app"`
	ExternalID string   `json:"external_id"`
	Method     string   `json:"method"` // password or host_uid
	Roles      []string `json:"roles,omitempty"`
	Orgs       []string `json:"orgs,omitempty"`
}

// EventName implements Event.
func (AccountVerified) EventName() string { return "account_verified" }

// ProvenIdentity is what one login proved about the user: the app, and
// whichever identifiers the login learned.
type ProvenIdentity struct {
	App     string `json:"app"`
	OpenID  string `json:"openid,omitempty"`
	UnionID string `json:"unionid,omitempty"`
	HostUID string `json:"host_uid,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Email   string `json:"email,omitempty"`
}

// LoginSucceeded: a login (or a bind or registration that ends in one)
// found the account and started a session.
type LoginSucceeded struct {
	App       string `json:"app"`
	AccountID string `json:"account_id"`
	Method    string `json:"method"`         // code, host_code, phone, bind_phone, bind_otp, bind_password, register
	Rule      string `json:"rule,omitempty"` // the match rule that found the account
	SessionID string `json:"session_id,omitempty"`
}

// EventName implements Event.
func (LoginSucceeded) EventName() string { return "login_succeeded" }

// LoginFailed: a login or bind attempt failed (Reason is a problem code
// such as invalid_code, code_used, account_disabled, wrong_password).
type LoginFailed struct {
	App       string `json:"app"`
	AccountID string `json:"account_id,omitempty"`
	Method    string `json:"method"`
	Reason    string `json:"reason"`
}

// EventName implements Event.
func (LoginFailed) EventName() string { return "login_failed" }

// CodeSpent marks a second code that one login used up (the wx.login code
// sent along with a phone code): its own login aggregate exists from now
// on, so that Bindery refuses the code later. Login is the id of the
// attempt that holds the outcome.
type CodeSpent struct {
	App    string `json:"app"`
	Method string `json:"method"`
	Login  string `json:"login"`
}

// EventName implements Event.
func (CodeSpent) EventName() string { return "code_spent" }

// LoginPendingBind: the login proved an identity that no account has; a
// bind ticket was issued (Ticket is its hash, the id of the ticket
// aggregate).
type LoginPendingBind struct {
	App    string `json:"app"`
	Method string `json:"method"`
	Status string `json:"status"` // SOCIAL_BIND or USER_REGISTER
	Ticket string `json:"ticket"`
}

// EventName implements Event.
func (LoginPendingBind) EventName() string { return "login_pending_bind" }

// TicketIssued opens a bind ticket: it holds the proven identity
// server-side until the user binds or registers, or it expires.
type TicketIssued struct {
	Status    string         `json:"status"` // SOCIAL_BIND or USER_REGISTER
	Identity  ProvenIdentity `json:"identity"`
	ExpiresAt time.Time      `json:"expires_at"`
}

// EventName implements Event.
func (TicketIssued) EventName() string { return "ticket_issued" }

// TicketAttemptFailed: a bind attempt with the ticket failed; a ticket dies
// after a few of them.
type TicketAttemptFailed struct {
	Method string `json:"method"`
	Reason string `json:"reason"`
}

// EventName implements Event.
func (TicketAttemptFailed) EventName() string { return "ticket_attempt_failed" }

// TicketOTPRequested: the ticket asked for a one-time code (counted for the
// per-ticket send limit); ToHash is the otp aggregate id.
type TicketOTPRequested struct {
	Channel string `json:"channel"`
	ToHash  string `json:"to_hash"`
}

// EventName implements Event.
func (TicketOTPRequested) EventName() string { return "ticket_otp_requested" }

// OTPSent: a one-time code went out to an address (To is masked; CodeHash
// is an HMAC of the code under a key derived from the master key, bound to
// the ticket and the address).
type OTPSent struct {
	App     string `json:"app"`
	Channel string `json:"channel"`          // sms or email
	To      string `json:"to"`               // masked, e.g. +86138****8000
	Ticket  string `json:"ticket,omitempty"` // hash of the bind ticket it belongs to
	// Authorization is the authorization request (its id) whose hosted
	// login page asked for the code, instead of a ticket.
	Authorization string    `json:"authorization,omitempty"`
	Requester     string    `json:"requester,omitempty"` // hash of the asking identity (app, openid); empty before issue 13: the ticket counts
	CodeHash      string    `json:"code_hash"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// EventName implements Event.
func (OTPSent) EventName() string { return "otp_sent" }

// OTPFailed: a wrong code was entered for the ticket's (or the
// authorization request's) current code.
type OTPFailed struct {
	Ticket        string `json:"ticket,omitempty"`
	Authorization string `json:"authorization,omitempty"`
	TriesLeft     int    `json:"tries_left"`
}

// EventName implements Event.
func (OTPFailed) EventName() string { return "otp_failed" }

// OTPVerified: the ticket's (or the authorization request's) current code
// was entered correctly (and is used up).
type OTPVerified struct {
	Ticket        string `json:"ticket,omitempty"`
	Authorization string `json:"authorization,omitempty"`
}

// EventName implements Event.
func (OTPVerified) EventName() string { return "otp_verified" }
