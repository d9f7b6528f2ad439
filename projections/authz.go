package projections

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/bindery/bindery/events"
)

// Authz is the authorization view: roles with their permissions, the org
// tree with its members, and each account's grants, compiled so that
// Allowed answers with a few map lookups and no allocation.
//
// Rules (docs/authz.md): an unscoped grant applies everywhere; a grant
// scoped to org X applies to checks naming X or any descendant of X, never
// to X's parent or siblings; a check naming no org sees only unscoped
// grants; a disabled account is allowed nothing.
type Authz struct {
	mu       sync.RWMutex
	roles    map[string]*roleEntry
	orgs     map[string]*orgNode
	subjects map[string]*subject
	next     int32 // next org index

	// Every concrete "resource:action", every resource of "resource:*" and
	// every action of "*:action" any role ever held gets a small number,
	// so that a compiled permission set is three bitsets: a check costs a
	// few lookups in these small, hot maps plus one bit test per set,
	// instead of chasing pointers through per-account maps.
	permIDs map[string]uint32
	resIDs  map[string]uint32
	actIDs  map[string]uint32
}

type roleEntry struct {
	perms   []string
	holders map[string]struct{} // accounts holding the role in any scope
}

type orgNode struct {
	id       string
	idx      int32
	defined  bool
	name     string
	parent   string
	children map[string]struct{}
	members  map[string]struct{}
	chain    []int32 // indexes of the org itself, its parent, …, its root
}

// subject is one account's grants and their compiled form.
type subject struct {
	disabled bool
	grants   map[RoleGrant]struct{}
	global   *permSet    // unscoped grants, nil when none
	scoped   []scopedSet // one per org the account holds grants in
}

type scopedSet struct {
	org int32
	set *permSet
}

// permSet is a union of permissions as bitsets over the view's interned
// ids.
type permSet struct {
	all   bool   // "*"
	perms bitset // concrete "resource:action"
	res   bitset // "resource:*"
	acts  bitset // "*:action"
}

type bitset []uint64

func (b bitset) has(i uint32) bool {
	w := i >> 6
	return int(w) < len(b) && b[w]&(1<<(i&63)) != 0
}

func (b *bitset) set(i uint32) {
	w := int(i >> 6)
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (i & 63)
}

// query is a check's permission as interned ids; ok flags say whether any
// role ever held that permission, resource wildcard or action wildcard.
type query struct {
	perm, res, act       uint32
	permOK, resOK, actOK bool
}

func (p *permSet) allows(q *query) bool {
	return p.all || (q.permOK && p.perms.has(q.perm)) || (q.resOK && p.res.has(q.res)) || (q.actOK && p.acts.has(q.act))
}

func intern(ids map[string]uint32, s string) uint32 {
	id, ok := ids[s]
	if !ok {
		id = uint32(len(ids))
		ids[s] = id
	}
	return id
}

// add puts one canonical permission into the set. Callers hold a.mu.
func (a *Authz) add(p *permSet, perm string) {
	res, act, ok := strings.Cut(perm, ":")
	switch {
	case perm == "*" || (res == "*" && act == "*"):
		p.all = true
	case !ok:
	case res == "*":
		p.acts.set(intern(a.actIDs, act))
	case act == "*":
		p.res.set(intern(a.resIDs, res))
	default:
		p.perms.set(intern(a.permIDs, perm))
	}
}

// NewAuthz returns an empty view.
func NewAuthz() *Authz {
	a := &Authz{}
	a.reset()
	return a
}

func (a *Authz) reset() {
	a.roles = map[string]*roleEntry{}
	a.orgs = map[string]*orgNode{}
	a.subjects = map[string]*subject{}
	a.next = 0
	a.permIDs = map[string]uint32{}
	a.resIDs = map[string]uint32{}
	a.actIDs = map[string]uint32{}
}

// Name implements Projection.
func (a *Authz) Name() string { return "authz" }

// Allowed reports whether the account may do permission ("resource:action",
// concrete) in org ("" = no org). It is the hot path of authorization
// checks: read-locked map lookups, no allocation.
func (a *Authz) Allowed(accountID, permission, org string) bool {
	res, act, ok := strings.Cut(permission, ":")
	if !ok {
		return false
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	s := a.subjects[accountID]
	if s == nil || s.disabled {
		return false
	}
	var q query
	q.perm, q.permOK = a.permIDs[permission]
	q.res, q.resOK = a.resIDs[res]
	q.act, q.actOK = a.actIDs[act]
	if s.global != nil && s.global.allows(&q) {
		return true
	}
	if org == "" || len(s.scoped) == 0 {
		return false
	}
	n := a.orgs[org]
	if n == nil {
		return false
	}
	for _, idx := range n.chain {
		for i := range s.scoped {
			if s.scoped[i].org == idx && s.scoped[i].set.allows(&q) {
				return true
			}
		}
	}
	return false
}

// Role is the read model of a role.
type Role struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
}

// Role returns a defined role, or false.
func (a *Authz) Role(name string) (Role, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	r := a.roles[name]
	if r == nil || r.perms == nil {
		return Role{}, false
	}
	return Role{Name: name, Permissions: slices.Clone(r.perms)}, true
}

// Org is the read model of an organisation.
type Org struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Parent   string   `json:"parent,omitempty"`
	Path     []string `json:"path"`     // root … parent: the ancestors, outermost first
	Children []string `json:"children"` // sorted
	Members  []string `json:"members"`  // account ids, sorted
}

// Org returns a defined organisation, or false.
func (a *Authz) Org(id string) (Org, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	n := a.orgs[id]
	if n == nil || !n.defined {
		return Org{}, false
	}
	o := Org{ID: id, Name: n.name, Parent: n.parent, Path: []string{}, Children: sortedKeys(n.children), Members: sortedKeys(n.members)}
	for p := n.parent; p != "" && len(o.Path) <= len(a.orgs); {
		o.Path = append(o.Path, p)
		pn := a.orgs[p]
		if pn == nil {
			break
		}
		p = pn.parent
	}
	slices.Reverse(o.Path)
	return o, true
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Apply implements Projection.
func (a *Authz) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case events.RoleDefined:
		a.mu.Lock()
		defer a.mu.Unlock()
		re := a.role(e.Role)
		re.perms = slices.Clone(e.Permissions)
		if re.perms == nil {
			re.perms = []string{}
		}
		for acc := range re.holders {
			a.compile(a.subjects[acc])
		}
	case events.RoleGranted:
		a.mu.Lock()
		defer a.mu.Unlock()
		s := a.subject(e.AccountID)
		s.grants[RoleGrant{Role: e.Role, Org: e.Org}] = struct{}{}
		a.role(e.Role).holders[e.AccountID] = struct{}{}
		if e.Org != "" {
			a.node(e.Org)
		}
		a.compile(s)
	case events.RoleRevoked:
		a.mu.Lock()
		defer a.mu.Unlock()
		s := a.subjects[e.AccountID]
		if s == nil {
			return
		}
		delete(s.grants, RoleGrant{Role: e.Role, Org: e.Org})
		if !holdsRole(s, e.Role) {
			delete(a.role(e.Role).holders, e.AccountID)
		}
		a.compile(s)
	case events.OrgDefined:
		a.mu.Lock()
		defer a.mu.Unlock()
		a.defineOrg(e.OrgID, e.Name, e.Parent, true)
	case events.OrgMemberAdded:
		a.mu.Lock()
		defer a.mu.Unlock()
		a.node(e.OrgID).members[e.AccountID] = struct{}{}
	case events.OrgMemberRemoved:
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.node(e.OrgID).members, e.AccountID)
	case events.AccountDisabled:
		a.mu.Lock()
		defer a.mu.Unlock()
		a.subject(e.AccountID).disabled = true
	case events.AccountEnabled:
		a.mu.Lock()
		defer a.mu.Unlock()
		if s := a.subjects[e.AccountID]; s != nil {
			s.disabled = false
		}
	}
}

func holdsRole(s *subject, role string) bool {
	for g := range s.grants {
		if g.Role == role {
			return true
		}
	}
	return false
}

func (a *Authz) role(name string) *roleEntry {
	re := a.roles[name]
	if re == nil {
		re = &roleEntry{holders: map[string]struct{}{}}
		a.roles[name] = re
	}
	return re
}

func (a *Authz) subject(id string) *subject {
	s := a.subjects[id]
	if s == nil {
		s = &subject{grants: map[RoleGrant]struct{}{}}
		a.subjects[id] = s
	}
	return s
}

// node returns the org's node, making a placeholder for an org not (yet)
// defined, so that grants and children can point at it.
func (a *Authz) node(id string) *orgNode {
	n := a.orgs[id]
	if n == nil {
		n = &orgNode{id: id, idx: a.next, children: map[string]struct{}{}, members: map[string]struct{}{}}
		n.chain = []int32{n.idx}
		a.next++
		a.orgs[id] = n
	}
	return n
}

// defineOrg sets an org's name and parent and, when the parent changed,
// recomputes the chains of the org and its whole subtree.
func (a *Authz) defineOrg(id, name, parent string, chains bool) {
	n := a.node(id)
	n.defined, n.name = true, name
	if n.parent == parent && len(n.chain) > 0 {
		return
	}
	if n.parent != "" {
		if old := a.orgs[n.parent]; old != nil {
			delete(old.children, id)
		}
	}
	n.parent = parent
	if parent != "" {
		a.node(parent).children[id] = struct{}{}
	}
	if chains {
		a.rechain(n)
	}
}

// rechain recomputes the ancestor chains of n's subtree.
func (a *Authz) rechain(n *orgNode) {
	stack := []*orgNode{n}
	seen := map[string]bool{}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[cur.id] {
			continue
		}
		seen[cur.id] = true
		a.setChain(cur)
		for c := range cur.children {
			if child := a.orgs[c]; child != nil {
				stack = append(stack, child)
			}
		}
	}
}

// setChain computes one org's chain. The walk is bounded by the number of
// orgs, so a cycle (which the commands never write) could not hang the view.
func (a *Authz) setChain(n *orgNode) {
	limit := len(a.orgs)
	n.chain = n.chain[:0]
	for p := n; p != nil && len(n.chain) < limit; p = a.orgs[p.parent] {
		n.chain = append(n.chain, p.idx)
		if p.parent == "" {
			break
		}
	}
}

// compile rebuilds the subject's permission sets from its grants.
func (a *Authz) compile(s *subject) {
	if s == nil {
		return
	}
	s.global, s.scoped = nil, nil
	byOrg := map[string]*permSet{}
	for g := range s.grants {
		ps := byOrg[g.Org]
		if ps == nil {
			ps = &permSet{}
			byOrg[g.Org] = ps
		}
		if re := a.roles[g.Role]; re != nil {
			for _, p := range re.perms {
				a.add(ps, p)
			}
		}
	}
	for org, ps := range byOrg {
		if org == "" {
			s.global = ps
			continue
		}
		s.scoped = append(s.scoped, scopedSet{org: a.node(org).idx, set: ps})
	}
}

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
