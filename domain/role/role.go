// Package role holds roles and their permissions, and the grants an account
// holds: state folded from events and the decisions that produce new ones.
// No I/O here.
package role

import (
	"regexp"
	"slices"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Errors of roles and grants.
var (
	ErrNotFound        = domain.New(domain.KindNotFound, "role_not_found", "role not found")
	ErrAccountNotFound = domain.New(domain.KindNotFound, "not_found", "account not found")
	ErrGrantNotFound   = domain.New(domain.KindNotFound, "grant_not_found", "the account does not hold this role (in this org)")
)

// MaxPermissions bounds the permissions of one role.
const MaxPermissions = 256

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.:-]{0,63}$`)

// ValidName reports whether s is a role name (also the shape of org ids):
// 1–64 of a-z 0-9 _ . : -, starting with a letter or digit.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// ValidateName checks a role name.
func ValidateName(s string) error {
	if !ValidName(s) {
		return domain.Invalid("role: 1-64 of a-z, 0-9, _ . : -, starting with a letter or digit")
	}
	return nil
}

// Permission is one "resource:action" string, parsed. Either part may be
// "*", matching any value; the string "*" alone is "*:*".
type Permission struct {
	Resource string
	Action   string
}

// String is the canonical form ("*" for "*:*").
func (p Permission) String() string {
	if p.Resource == "*" && p.Action == "*" {
		return "*"
	}
	return p.Resource + ":" + p.Action
}

// Covers reports whether holding p allows q (q is concrete: no wildcard).
func (p Permission) Covers(q Permission) bool {
	return (p.Resource == "*" || p.Resource == q.Resource) && (p.Action == "*" || p.Action == q.Action)
}

// validPart reports whether s is a resource or action: 1–64 of a-z 0-9 _ . -,
// starting with a letter or digit. Checked by hand: it runs on every
// authorization check.
func validPart(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ParsePermission reads a permission a role may hold: "resource:action",
// either part "*", or "*" alone.
func ParsePermission(s string) (Permission, error) {
	if s == "*" {
		return Permission{"*", "*"}, nil
	}
	res, act, ok := strings.Cut(s, ":")
	if !ok || (res != "*" && !validPart(res)) || (act != "*" && !validPart(act)) {
		return Permission{}, domain.Invalid("permission %q: use resource:action (lower-case a-z 0-9 _ . -, or * for any), or *", clip(s))
	}
	return Permission{res, act}, nil
}

// ParseCheck reads the permission an authorization check asks about: a
// concrete "resource:action", no wildcard.
func ParseCheck(s string) (Permission, error) {
	res, act, ok := strings.Cut(s, ":")
	if !ok || !validPart(res) || !validPart(act) {
		return Permission{}, domain.Invalid("permission: a concrete resource:action (lower-case a-z 0-9 _ . -), no wildcard")
	}
	return Permission{res, act}, nil
}

// ValidCheck is ParseCheck without the error, for the hot path.
func ValidCheck(s string) bool {
	res, act, ok := strings.Cut(s, ":")
	return ok && validPart(res) && validPart(act)
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// NormalizePermissions validates a role's permissions and returns them in
// canonical form, without duplicates, sorted.
func NormalizePermissions(in []string) ([]string, error) {
	if in == nil {
		return nil, domain.Invalid("permissions: required (an array, may be empty)")
	}
	if len(in) > MaxPermissions {
		return nil, domain.Invalid("permissions: at most %d", MaxPermissions)
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		p, err := ParsePermission(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p.String())
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Role is the state of one role aggregate.
type Role struct {
	name        string
	defined     bool
	permissions []string
}

// New returns the empty state of the role with this name.
func New(name string) *Role { return &Role{name: name} }

// Name is the role's name.
func (r *Role) Name() string { return r.name }

// Defined reports whether the role exists.
func (r *Role) Defined() bool { return r.defined }

// Permissions are the role's permissions, sorted.
func (r *Role) Permissions() []string { return slices.Clone(r.permissions) }

// Clone copies the state.
func (r *Role) Clone() *Role {
	c := *r
	c.permissions = slices.Clone(r.permissions)
	return &c
}

// Apply folds one event into the state.
func (r *Role) Apply(rec events.Record) {
	if e, ok := rec.Event.(events.RoleDefined); ok {
		r.defined = true
		r.permissions = slices.Clone(e.Permissions)
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*Role) Folds() []events.Event {
	return []events.Event{events.RoleDefined{}}
}

// Define decides creating the role or replacing its permissions, given in
// normalised form; it returns no event when nothing changes.
func (r *Role) Define(perms []string) ([]events.Event, error) {
	if r.defined && slices.Equal(perms, r.permissions) {
		return nil, nil
	}
	return []events.Event{events.RoleDefined{Role: r.name, Permissions: slices.Clone(perms)}}, nil
}

// Grant is one role held by an account, optionally within an org.
type Grant struct {
	Role string
	Org  string // "" = everywhere
}

// String is "role" or "role@org", the form used in token claims.
func (g Grant) String() string {
	if g.Org == "" {
		return g.Role
	}
	return g.Role + "@" + g.Org
}

// Holder is the write model of an account's grants: the part of the
// account aggregate that grant and revoke decide on.
type Holder struct {
	id     string
	exists bool
	grants map[Grant]struct{}
}

// NewHolder returns the empty state of the account with this id.
func NewHolder(accountID string) *Holder {
	return &Holder{id: accountID, grants: map[Grant]struct{}{}}
}

// Exists reports whether the account exists.
func (h *Holder) Exists() bool { return h.exists }

// Holds reports whether the account holds g.
func (h *Holder) Holds(g Grant) bool {
	_, ok := h.grants[g]
	return ok
}

// Grants lists what the account holds, sorted by role then org.
func (h *Holder) Grants() []Grant {
	out := make([]Grant, 0, len(h.grants))
	for g := range h.grants {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b Grant) int {
		if c := strings.Compare(a.Role, b.Role); c != 0 {
			return c
		}
		return strings.Compare(a.Org, b.Org)
	})
	return out
}

// Clone copies the state.
func (h *Holder) Clone() *Holder {
	c := *h
	c.grants = make(map[Grant]struct{}, len(h.grants))
	for g := range h.grants {
		c.grants[g] = struct{}{}
	}
	return &c
}

// Apply folds one event of the account aggregate into the state. Any event
// proves the account exists: accounts are made by their first event,
// whichever feature wrote it, and are never erased.
func (h *Holder) Apply(rec events.Record) {
	h.exists = true
	switch e := rec.Event.(type) {
	case events.RoleGranted:
		h.grants[Grant{e.Role, e.Org}] = struct{}{}
	case events.RoleRevoked:
		delete(h.grants, Grant{e.Role, e.Org})
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*Holder) Folds() []events.Event {
	return []events.Event{events.RoleGranted{}, events.RoleRevoked{}}
}

// Grant decides giving g to the account; holding it already changes
// nothing. The role and org must have been checked to exist.
func (h *Holder) Grant(g Grant) ([]events.Event, error) {
	if !h.exists {
		return nil, ErrAccountNotFound
	}
	if h.Holds(g) {
		return nil, nil
	}
	return []events.Event{events.RoleGranted{AccountID: h.id, Role: g.Role, Org: g.Org}}, nil
}

// Revoke decides taking g back; a grant not held is ErrGrantNotFound.
func (h *Holder) Revoke(g Grant) ([]events.Event, error) {
	if !h.exists {
		return nil, ErrAccountNotFound
	}
	if !h.Holds(g) {
		return nil, ErrGrantNotFound
	}
	return []events.Event{events.RoleRevoked{AccountID: h.id, Role: g.Role, Org: g.Org}}, nil
}
