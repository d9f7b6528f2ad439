package projections

import "slices"

// RoleNames lists the defined roles, sorted (the console's role page).
func (a *Authz) RoleNames() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.roles))
	for name, r := range a.roles {
		if r.perms != nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// OrgIDs lists the defined organisations, sorted (the console's tree).
func (a *Authz) OrgIDs() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.orgs))
	for id, n := range a.orgs {
		if n.defined {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
