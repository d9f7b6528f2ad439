package projections

import (
	"slices"
	"strings"
	"time"

	"github.com/bindery/bindery/events"
)

// The account view's authorization reducers keep an account's roles and
// orgs in its read model (and so in its token claims). Both lists stay
// sorted, so reads and snapshots are deterministic. Each gets a copy of the
// account (onAccount) and runs under a.mu.

func granted(acc *Account, e events.RoleGranted, at time.Time) {
	acc.Roles = insertGrant(acc.Roles, RoleGrant{Role: e.Role, Org: e.Org})
	acc.UpdatedAt = at
}

func revoked(acc *Account, e events.RoleRevoked, at time.Time) {
	acc.Roles = slices.DeleteFunc(acc.Roles, func(g RoleGrant) bool { return g == RoleGrant{Role: e.Role, Org: e.Org} })
	acc.UpdatedAt = at
}

func joined(acc *Account, e events.OrgMemberAdded, at time.Time) {
	if i, found := slices.BinarySearch(acc.Orgs, e.OrgID); !found {
		acc.Orgs = slices.Insert(acc.Orgs, i, e.OrgID)
	}
	acc.UpdatedAt = at
}

func left(acc *Account, e events.OrgMemberRemoved, at time.Time) {
	if i, found := slices.BinarySearch(acc.Orgs, e.OrgID); found {
		acc.Orgs = slices.Delete(acc.Orgs, i, i+1)
	}
	acc.UpdatedAt = at
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
