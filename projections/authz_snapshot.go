package projections

import (
	"encoding/json"
	"slices"
	"strings"
)

type authzSnapshot struct {
	Roles    []Role         `json:"roles"`
	Orgs     []orgSnapshot  `json:"orgs"`
	Accounts []subjectState `json:"accounts"`
}

type orgSnapshot struct {
	ID      string   `json:"id"`
	Defined bool     `json:"defined,omitempty"`
	Name    string   `json:"name,omitempty"`
	Parent  string   `json:"parent,omitempty"`
	Members []string `json:"members,omitempty"`
}

type subjectState struct {
	ID       string      `json:"id"`
	Disabled bool        `json:"disabled,omitempty"`
	Grants   []RoleGrant `json:"grants,omitempty"`
}

// Snapshot implements Projection; the output is sorted, so deterministic.
func (a *Authz) Snapshot() (json.RawMessage, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	snap := authzSnapshot{Roles: []Role{}, Orgs: []orgSnapshot{}, Accounts: []subjectState{}}
	for name, re := range a.roles {
		if re.perms != nil {
			snap.Roles = append(snap.Roles, Role{Name: name, Permissions: re.perms})
		}
	}
	slices.SortFunc(snap.Roles, func(x, y Role) int { return strings.Compare(x.Name, y.Name) })
	for id, n := range a.orgs {
		snap.Orgs = append(snap.Orgs, orgSnapshot{ID: id, Defined: n.defined, Name: n.name, Parent: n.parent, Members: sortedKeys(n.members)})
	}
	slices.SortFunc(snap.Orgs, func(x, y orgSnapshot) int { return strings.Compare(x.ID, y.ID) })
	for id, s := range a.subjects {
		st := subjectState{ID: id, Disabled: s.disabled}
		for g := range s.grants {
			st.Grants = append(st.Grants, g)
		}
		sortGrants(st.Grants)
		snap.Accounts = append(snap.Accounts, st)
	}
	slices.SortFunc(snap.Accounts, func(x, y subjectState) int { return strings.Compare(x.ID, y.ID) })
	return json.Marshal(snap)
}

func sortGrants(gs []RoleGrant) { slices.SortFunc(gs, compareGrants) }

// Restore implements Projection; nil resets the view.
func (a *Authz) Restore(raw json.RawMessage) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reset()
	if raw == nil {
		return nil
	}
	var snap authzSnapshot
	if err := json.Unmarshal(raw, &snap); err != nil {
		return err
	}
	for _, r := range snap.Roles {
		re := a.role(r.Name)
		re.perms = r.Permissions
		if re.perms == nil {
			re.perms = []string{}
		}
	}
	for _, o := range snap.Orgs {
		n := a.node(o.ID)
		if o.Defined {
			a.defineOrg(o.ID, o.Name, o.Parent, false)
		}
		for _, m := range o.Members {
			n.members[m] = struct{}{}
		}
	}
	for _, n := range a.orgs {
		a.setChain(n)
	}
	for _, st := range snap.Accounts {
		s := a.subject(st.ID)
		s.disabled = st.Disabled
		for _, g := range st.Grants {
			s.grants[g] = struct{}{}
			a.role(g.Role).holders[st.ID] = struct{}{}
		}
		a.compile(s)
	}
	return nil
}
