package account

import (
	"slices"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Errors of bindings.
var (
	ErrBindingNotFound = domain.New(domain.KindNotFound, "binding_not_found", "the account has no binding with this id")
	ErrAlreadyBound    = domain.New(domain.KindConflict, "already_bound", "this identity is already bound to another account")
)

// applyBinding folds the binding events (called from Apply).
func (a *Account) applyBinding(e events.Event) {
	switch e := e.(type) {
	case events.IdentityBound:
		a.addBinding(e.BoundIdentity)
	case events.IdentityUnbound:
		delete(a.bindings, e.BindingID)
	case events.AttributesBackfilled:
		for _, b := range e.Bindings {
			a.addBinding(b)
		}
		if e.Phone != "" {
			a.ids.Phone = e.Phone
		}
		if e.Email != "" {
			a.ids.Email = e.Email
		}
		if e.ExternalID != "" {
			a.ids.ExternalID = e.ExternalID
		}
	}
}

func (a *Account) addBinding(b events.BoundIdentity) {
	if a.bindings == nil {
		a.bindings = map[string]events.BoundIdentity{}
	}
	a.bindings[b.BindingID] = b
}

// Bindings lists the account's bound identities, by binding id.
func (a *Account) Bindings() []events.BoundIdentity {
	out := make([]events.BoundIdentity, 0, len(a.bindings))
	for _, b := range a.bindings {
		out = append(out, b)
	}
	slices.SortFunc(out, func(x, y events.BoundIdentity) int {
		if x.BindingID < y.BindingID {
			return -1
		}
		if x.BindingID > y.BindingID {
			return 1
		}
		return 0
	})
	return out
}

// HasBinding reports whether the identity is bound to this account.
func (a *Account) HasBinding(b events.BoundIdentity) bool {
	_, ok := a.bindings[b.BindingID]
	return ok
}

// CanLogIn refuses missing, erased and disabled accounts.
func (a *Account) CanLogIn() error {
	if err := a.usable(); err != nil {
		return err
	}
	if a.status == StatusDisabled {
		return ErrDisabled
	}
	return nil
}

// Bind decides attaching identities to the account. Identities it holds
// already are skipped; the store's claims refuse one that another account
// holds (already_bound).
func (a *Account) Bind(ids []events.BoundIdentity, method string) ([]events.Event, error) {
	if err := a.CanLogIn(); err != nil {
		return nil, err
	}
	var out []events.Event
	for _, b := range ids {
		if a.HasBinding(b) {
			continue
		}
		out = append(out, events.IdentityBound{AccountID: a.id, BoundIdentity: b, Method: method})
	}
	return out, nil
}

// Unbind decides detaching one binding (admin).
func (a *Account) Unbind(bindingID, reason string) ([]events.Event, error) {
	if err := a.usable(); err != nil {
		return nil, err
	}
	b, ok := a.bindings[bindingID]
	if !ok {
		return nil, ErrBindingNotFound
	}
	return []events.Event{events.IdentityUnbound{AccountID: a.id, BoundIdentity: b, Reason: reason}}, nil
}

// Backfill is what a later match rule wants written onto the account.
type Backfill struct {
	App, Rule                string
	Bindings                 []events.BoundIdentity
	Phone, Email, ExternalID string
}

// Backfill decides writing the earlier rules' identifiers onto the account:
// bindings it lacks, and profile values it has none of (a value the account
// already has is never replaced by a login). Nothing new, no event.
func (a *Account) Backfill(f Backfill) ([]events.Event, error) {
	if err := a.CanLogIn(); err != nil {
		return nil, err
	}
	e := events.AttributesBackfilled{AccountID: a.id, App: f.App, Rule: f.Rule}
	for _, b := range f.Bindings {
		if !a.HasBinding(b) {
			e.Bindings = append(e.Bindings, b)
		}
	}
	if a.ids.Phone == "" {
		e.Phone = f.Phone
	}
	if a.ids.Email == "" {
		e.Email = f.Email
	}
	if a.ids.ExternalID == "" {
		e.ExternalID = f.ExternalID
	}
	if len(e.Bindings) == 0 && e.Phone == "" && e.Email == "" && e.ExternalID == "" {
		return nil, nil
	}
	return []events.Event{e}, nil
}

// Register decides the creation of an account by its user, from a bind
// ticket: the account, its proven identities, and the registration.
func (a *Account) Register(p Profile, ids []events.BoundIdentity, app, method string) ([]events.Event, error) {
	out, err := a.Create(p, "", "register")
	if err != nil {
		return nil, err
	}
	for _, b := range ids {
		out = append(out, events.IdentityBound{AccountID: a.id, BoundIdentity: b, Method: method})
	}
	return append(out, events.AccountRegistered{AccountID: a.id, App: app, Method: method}), nil
}

// Verified decides recording what a customer's account API answered for
// the account; it goes with the Create or Update decided from that answer
// (so the account may not exist yet in the state it is asked on).
func (a *Account) Verified(app, externalID, method string, roles, orgs []string) ([]events.Event, error) {
	return []events.Event{events.AccountVerified{AccountID: a.id, App: app, ExternalID: externalID, Method: method, Roles: roles, Orgs: orgs}}, nil
}
