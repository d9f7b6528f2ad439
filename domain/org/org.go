// Package org holds organisations: a tree (each org has at most one parent)
// whose nodes have member accounts. State is folded from events; decisions
// return new events. No I/O here.
package org

import (
	"regexp"
	"slices"
	"unicode/utf8"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Errors of organisations.
var (
	ErrNotFound       = domain.New(domain.KindNotFound, "org_not_found", "organisation not found")
	ErrCycle          = domain.New(domain.KindConflict, "org_cycle", "the parent is the organisation itself or one of its descendants")
	ErrMemberNotFound = domain.New(domain.KindNotFound, "member_not_found", "the account is not a member of this organisation")
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.:-]{0,63}$`)

// ValidID reports whether s is an org id: 1–64 of a-z 0-9 _ . : -, starting
// with a letter or digit (the shape of role names, so "role@org" parses).
func ValidID(s string) bool { return idPattern.MatchString(s) }

// ValidateID checks an org id; what names the field goes in the message.
func ValidateID(what, s string) error {
	if !ValidID(s) {
		return domain.Invalid("%s: 1-64 of a-z, 0-9, _ . : -, starting with a letter or digit", what)
	}
	return nil
}

// ValidateName checks an org's display name: 1–256 characters, one line.
func ValidateName(s string) error {
	if s == "" || utf8.RuneCountInString(s) > 256 || !utf8.ValidString(s) {
		return domain.Invalid("name: required, at most 256 characters")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return domain.Invalid("name: no control characters")
		}
	}
	return nil
}

// Tree is the strongly consistent shape of the organisation tree that a
// placement is decided on: the parent of each existing org ("" for a root).
type Tree interface {
	Parent(id string) (parent string, exists bool)
}

// CheckPlacement decides whether org id may sit under parent: the parent
// must exist, and must be neither id nor one of its descendants. A root
// ("") is always fine.
func CheckPlacement(t Tree, id, parent string) error {
	if parent == "" {
		return nil
	}
	cur := parent
	// Bounded, so that even a corrupted tree cannot loop forever.
	for steps := 0; cur != "" && steps < 1<<20; steps++ {
		if cur == id {
			return ErrCycle
		}
		next, ok := t.Parent(cur)
		if !ok {
			if cur == parent {
				return ErrNotFound
			}
			return nil // a dangling ancestor ends the walk; it cannot be id
		}
		cur = next
	}
	return nil
}

// Org is the state of one organisation aggregate.
type Org struct {
	id      string
	exists  bool
	name    string
	parent  string
	members map[string]struct{}
}

// New returns the empty state of the org with this id.
func New(id string) *Org { return &Org{id: id, members: map[string]struct{}{}} }

// ID is the org's id.
func (o *Org) ID() string { return o.id }

// Exists reports whether the org was defined.
func (o *Org) Exists() bool { return o.exists }

// Name is the org's display name.
func (o *Org) Name() string { return o.name }

// Parent is the parent org's id, "" for a root.
func (o *Org) Parent() string { return o.parent }

// HasMember reports whether the account is a member.
func (o *Org) HasMember(accountID string) bool {
	_, ok := o.members[accountID]
	return ok
}

// Members lists the member account ids, sorted.
func (o *Org) Members() []string {
	out := make([]string, 0, len(o.members))
	for m := range o.members {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// Clone copies the state.
func (o *Org) Clone() *Org {
	c := *o
	c.members = make(map[string]struct{}, len(o.members))
	for m := range o.members {
		c.members[m] = struct{}{}
	}
	return &c
}

// Apply folds one event into the state.
func (o *Org) Apply(rec events.Record) {
	switch e := rec.Event.(type) {
	case events.OrgDefined:
		o.exists, o.name, o.parent = true, e.Name, e.Parent
	case events.OrgMemberAdded:
		o.members[e.AccountID] = struct{}{}
	case events.OrgMemberRemoved:
		delete(o.members, e.AccountID)
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*Org) Folds() []events.Event {
	return []events.Event{events.OrgDefined{}, events.OrgMemberAdded{}, events.OrgMemberRemoved{}}
}

// Define decides creating the org or changing its name or parent (name and
// parent already validated). A new org, or a new parent, must fit the tree
// t; placement is then what the tree aggregate records (org_placed), which
// the caller appends in the same append; it is nil when the tree's shape
// does not change.
func (o *Org) Define(t Tree, name, parent string) (evs, placement []events.Event, err error) {
	if o.exists && name == o.name && parent == o.parent {
		return nil, nil, nil
	}
	if !o.exists || parent != o.parent {
		if err := CheckPlacement(t, o.id, parent); err != nil {
			return nil, nil, err
		}
		placement = []events.Event{events.OrgPlaced{OrgID: o.id, Parent: parent}}
	}
	return []events.Event{events.OrgDefined{OrgID: o.id, Name: name, Parent: parent}}, placement, nil
}

// AddMember decides adding an account (checked to exist); a member already
// changes nothing.
func (o *Org) AddMember(accountID string) ([]events.Event, error) {
	if !o.exists {
		return nil, ErrNotFound
	}
	if o.HasMember(accountID) {
		return nil, nil
	}
	return []events.Event{events.OrgMemberAdded{OrgID: o.id, AccountID: accountID}}, nil
}

// RemoveMember decides removing an account; a non-member is
// ErrMemberNotFound.
func (o *Org) RemoveMember(accountID string) ([]events.Event, error) {
	if !o.exists {
		return nil, ErrNotFound
	}
	if !o.HasMember(accountID) {
		return nil, ErrMemberNotFound
	}
	return []events.Event{events.OrgMemberRemoved{OrgID: o.id, AccountID: accountID}}, nil
}
