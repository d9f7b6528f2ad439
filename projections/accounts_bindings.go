package projections

import (
	"slices"
	"strings"
	"time"

	"github.com/bindery/bindery/events"
)

// The account view's binding reducers keep an account's bound identities
// (sorted by binding id, so reads and snapshots are deterministic) and the
// profile values a back-fill wrote. Each gets a copy of the account
// (onAccount) and runs under a.mu.

func bound(acc *Account, e events.IdentityBound, at time.Time) {
	acc.Bindings = insertBinding(acc.Bindings, e.BoundIdentity, at)
	acc.UpdatedAt = at
}

func unbound(acc *Account, e events.IdentityUnbound, at time.Time) {
	acc.Bindings = slices.DeleteFunc(acc.Bindings, func(b Binding) bool { return b.ID == e.BindingID })
	acc.UpdatedAt = at
}

func (a *Accounts) backfilled(acc *Account, e events.AttributesBackfilled, at time.Time) {
	for _, b := range e.Bindings {
		acc.Bindings = insertBinding(acc.Bindings, b, at)
	}
	pick := func(cur, v string) string {
		if v != "" {
			return v
		}
		return cur
	}
	a.setIDs(acc, pick(acc.ExternalID, e.ExternalID), acc.Username, pick(acc.Phone, e.Phone), pick(acc.Email, e.Email))
	acc.UpdatedAt = at
}

func insertBinding(bs []Binding, b events.BoundIdentity, at time.Time) []Binding {
	i, found := slices.BinarySearchFunc(bs, b.BindingID, func(x Binding, id string) int { return strings.Compare(x.ID, id) })
	if found {
		return bs
	}
	return slices.Insert(bs, i, Binding{ID: b.BindingID, Kind: b.Kind, App: b.App, Subject: b.Subject, BoundAt: at})
}
