package projections

import (
	"slices"
	"strings"
	"time"

	"github.com/bindery/bindery/events"
)

// applyBinding keeps an account's bound identities (sorted by binding id,
// so reads and snapshots are deterministic) and the profile values a
// back-fill wrote. Callers hold a.mu.
func (a *Accounts) applyBinding(ev events.Event, at time.Time) {
	switch e := ev.(type) {
	case events.IdentityBound:
		if acc := a.byID[e.AccountID]; acc != nil {
			acc.Bindings = insertBinding(acc.Bindings, e.BoundIdentity, at)
			acc.UpdatedAt = at
		}
	case events.IdentityUnbound:
		if acc := a.byID[e.AccountID]; acc != nil {
			acc.Bindings = slices.DeleteFunc(acc.Bindings, func(b Binding) bool { return b.ID == e.BindingID })
			acc.UpdatedAt = at
		}
	case events.AttributesBackfilled:
		acc := a.byID[e.AccountID]
		if acc == nil {
			return
		}
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
}

func insertBinding(bs []Binding, b events.BoundIdentity, at time.Time) []Binding {
	i, found := slices.BinarySearchFunc(bs, b.BindingID, func(x Binding, id string) int { return strings.Compare(x.ID, id) })
	if found {
		return bs
	}
	return slices.Insert(bs, i, Binding{ID: b.BindingID, Kind: b.Kind, App: b.App, Subject: b.Subject, BoundAt: at})
}
