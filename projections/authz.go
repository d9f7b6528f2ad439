package projections

import (
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

	apply Dispatch // the view's own table, for Apply
}

type roleEntry struct {
	perms   []string
	holders map[string]struct{} // accounts holding the role in any scope
}

// subject is one account's grants and their compiled form.
type subject struct {
	disabled bool
	grants   map[RoleGrant]struct{}
	global   *permSet    // unscoped grants, nil when none
	scoped   []scopedSet // one per org the account holds grants in
}

// NewAuthz returns an empty view.
func NewAuthz() *Authz {
	a := &Authz{}
	a.reset()
	a.apply = NewDispatch(a)
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

// Reducers implements Projection: the authorization view's table.
func (a *Authz) Reducers() []Reducer {
	return guarded(&a.mu,
		On(a.roleDefined),
		On(a.roleGranted),
		On(a.roleRevoked),
		On(a.orgDefined),
		On(a.memberAdded),
		On(a.memberRemoved),
		On(a.accountDisabled),
		On(a.accountEnabled),
		On(a.accountErased),
	)
}

// Apply reduces one record into the view (through its table).
func (a *Authz) Apply(r events.Record) { a.apply.Apply(r) }

// The reducers run under a.mu (guarded).

func (a *Authz) roleDefined(e events.RoleDefined, _ events.Record) {
	re := a.role(e.Role)
	re.perms = slices.Clone(e.Permissions)
	if re.perms == nil {
		re.perms = []string{}
	}
	for acc := range re.holders {
		a.compile(a.subjects[acc])
	}
}

func (a *Authz) roleGranted(e events.RoleGranted, _ events.Record) {
	s := a.subject(e.AccountID)
	s.grants[RoleGrant{Role: e.Role, Org: e.Org}] = struct{}{}
	a.role(e.Role).holders[e.AccountID] = struct{}{}
	if e.Org != "" {
		a.node(e.Org)
	}
	a.compile(s)
}

func (a *Authz) roleRevoked(e events.RoleRevoked, _ events.Record) {
	s := a.subjects[e.AccountID]
	if s == nil {
		return
	}
	delete(s.grants, RoleGrant{Role: e.Role, Org: e.Org})
	if !holdsRole(s, e.Role) {
		delete(a.role(e.Role).holders, e.AccountID)
	}
	a.compile(s)
}

func (a *Authz) orgDefined(e events.OrgDefined, _ events.Record) {
	a.defineOrg(e.OrgID, e.Name, e.Parent, true)
}

func (a *Authz) memberAdded(e events.OrgMemberAdded, _ events.Record) {
	a.node(e.OrgID).members[e.AccountID] = struct{}{}
}

func (a *Authz) memberRemoved(e events.OrgMemberRemoved, _ events.Record) {
	delete(a.node(e.OrgID).members, e.AccountID)
}

func (a *Authz) accountDisabled(e events.AccountDisabled, _ events.Record) {
	a.subject(e.AccountID).disabled = true
}

// accountErased blocks the account for good: it holds its grants still,
// but no check answers yes for it.
func (a *Authz) accountErased(e events.AccountErased, _ events.Record) {
	a.subject(e.AccountID).disabled = true
}

func (a *Authz) accountEnabled(e events.AccountEnabled, _ events.Record) {
	if s := a.subjects[e.AccountID]; s != nil {
		s.disabled = false
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
