package account

import (
	"errors"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// StatusErased is the status of an account whose person was erased: it
// holds no personal value any more and can never log in again.
const StatusErased = "erased"

// ErrErased refuses every decision on an erased account but a repeated
// erasure: logging in, binding, updating, enabling.
var ErrErased = domain.New(domain.KindForbidden, "account_erased", "account is erased")

// Erase decides erasing the account's person (SPEC §8): one account_erased
// that releases every unique value and identity the account holds. Erasing
// an erased account decides nothing (the caller still makes sure its data
// key is gone), so a repeated request is harmless.
func (a *Account) Erase(reason string) ([]events.Event, error) {
	if !a.exists {
		return nil, ErrNotFound
	}
	if a.status == StatusErased {
		return nil, nil
	}
	return []events.Event{events.AccountErased{AccountID: a.id, Reason: reason, Released: a.held()}}, nil
}

// held lists the claims the account holds, as releases: its profile's
// identifiers and every bound identity.
func (a *Account) held() []events.Constraint {
	var out []events.Constraint
	add := func(kind, value string) {
		if value != "" {
			out = append(out, events.Constraint{Kind: kind, Value: value, Owner: a.id, Release: true})
		}
	}
	add(events.ClaimExternalID, a.ids.ExternalID)
	add(events.ClaimUsername, strings.ToLower(a.ids.Username))
	add(events.ClaimPhone, a.ids.Phone)
	add(events.ClaimEmail, a.ids.Email)
	for _, b := range a.Bindings() {
		add(b.Kind, b.ClaimValue())
	}
	return out
}

// erased forgets every personal value of the state (folding account_erased):
// what is left is the id and the status.
func (a *Account) erased() {
	a.status = StatusErased
	a.ids = events.Identifiers{}
	a.displayName, a.avatarURL, a.passwordSealed = "", "", ""
	a.attributes, a.bindings = nil, nil
}

// Erased reports whether the account's person was erased.
func (a *Account) Erased() bool { return a.status == StatusErased }

// usable refuses missing and erased accounts: the decisions that write
// onto an account (an erased one must never get a new data key).
func (a *Account) usable() error {
	if !a.exists {
		return ErrNotFound
	}
	if a.status == StatusErased {
		return ErrErased
	}
	return nil
}

// Blocked is the refusal of an account in this status: ErrDisabled,
// ErrErased, or nil for an active one. Views and gates that check an
// account outside its aggregate use it, so an erased account is refused
// wherever a disabled one is.
func Blocked(status string) error {
	switch status {
	case StatusDisabled:
		return ErrDisabled
	case StatusErased:
		return ErrErased
	}
	return nil
}

// IsBlocked reports whether err refuses a disabled or an erased account.
func IsBlocked(err error) bool { return errors.Is(err, ErrDisabled) || errors.Is(err, ErrErased) }
