package projections

import (
	"slices"
	"strings"
	"time"

	"github.com/bindery/bindery/events"
)

// applyAuthz keeps an account's roles and orgs in its read model (and so in
// its token claims). Both lists stay sorted, so reads and snapshots are
// deterministic. Callers hold a.mu.
func (a *Accounts) applyAuthz(ev events.Event, at time.Time) {
	switch e := ev.(type) {
	case events.RoleGranted:
		if acc := a.byID[e.AccountID]; acc != nil {
			acc.Roles = insertGrant(acc.Roles, RoleGrant{Role: e.Role, Org: e.Org})
			acc.UpdatedAt = at
		}
	case events.RoleRevoked:
		if acc := a.byID[e.AccountID]; acc != nil {
			acc.Roles = slices.DeleteFunc(acc.Roles, func(g RoleGrant) bool { return g == RoleGrant{Role: e.Role, Org: e.Org} })
			acc.UpdatedAt = at
		}
	case events.OrgMemberAdded:
		if acc := a.byID[e.AccountID]; acc != nil {
			if i, found := slices.BinarySearch(acc.Orgs, e.OrgID); !found {
				acc.Orgs = slices.Insert(acc.Orgs, i, e.OrgID)
			}
			acc.UpdatedAt = at
		}
	case events.OrgMemberRemoved:
		if acc := a.byID[e.AccountID]; acc != nil {
			if i, found := slices.BinarySearch(acc.Orgs, e.OrgID); found {
				acc.Orgs = slices.Delete(acc.Orgs, i, i+1)
			}
			acc.UpdatedAt = at
		}
	}
}

func compareGrants(x, y RoleGrant) int {
	if c := strings.Compare(x.Role, y.Role); c != 0 {
		return c
	}
	return strings.Compare(x.Org, y.Org)
}

func insertGrant(gs []RoleGrant, g RoleGrant) []RoleGrant {
	i, found := slices.BinarySearchFunc(gs, g, compareGrants)
	if found {
		return gs
	}
	return slices.Insert(gs, i, g)
}
