package projections

import (
	"time"

	"github.com/bindery/bindery/events"
)

// StatusErased is an erased account's status in the view.
const StatusErased = "erased"

// erased turns the account into a tombstone (account_erased): its id, its
// times, its roles and orgs (grants, not personal) and status erased; the
// profile, the bindings and their index entries go, so lookups by its old
// values find nothing.
func (a *Accounts) erased(acc *Account, _ events.AccountErased, at time.Time) {
	a.setIDs(acc, "", "", "", "")
	*acc = Account{ID: acc.ID, Status: StatusErased, Bindings: []Binding{}, Roles: acc.Roles, Orgs: acc.Orgs, CreatedAt: acc.CreatedAt, UpdatedAt: at}
	a.erasedSince++
}

// ErasedIDs lists the erased accounts (tombstones), in no order: the
// start-up check that their data keys are gone walks them.
func (a *Accounts) ErasedIDs() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []string
	for id, acc := range a.byID {
		if acc.Status == StatusErased {
			out = append(out, id)
		}
	}
	return out
}

// ErasedSinceRestore reports whether an erasure was applied since the view
// was restored from its snapshot (or started empty): that snapshot, if it
// exists, may still hold the person, and must be replaced.
func (a *Accounts) ErasedSinceRestore() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.erasedSince > 0
}
