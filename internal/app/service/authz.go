package service

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/org"
	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
)

// Authz handles the commands of roles, grants and organisations. Grants
// live on the account aggregate, decided on role.Holder (a write model that
// folds only what grants need); memberships live on the org aggregate.
type Authz struct {
	Roles   *events.Repository[*role.Role]
	Holders *events.Repository[*role.Holder]
	Orgs    *events.Repository[*org.Org]

	store events.Store
	// placing serialises, within this process, the commands that change the
	// tree's shape; across replicas the expected sequence of org/_tree does.
	placing sync.Mutex
	tree    orgTree
}

// NewAuthz wires the commands to a store.
func NewAuthz(store events.Store) *Authz {
	return &Authz{
		Roles:   events.NewRepository(store, events.AggregateRole, func(id string) *role.Role { return role.New(events.RoleName(id)) }, 10000),
		Holders: events.NewRepository(store, events.AggregateAccount, role.NewHolder, 50000),
		Orgs:    events.NewRepository(store, events.AggregateOrg, func(id string) *org.Org { return org.New(events.OrgID(id)) }, 10000),
		store:   store,
		tree:    orgTree{parents: map[string]string{}},
	}
}

// orgTree is this process's copy of the org/_tree aggregate: the parent of
// every org, brought up to date from the store before each decision that
// needs it (an incremental read of what came after the copy).
type orgTree struct {
	mu      sync.Mutex
	version uint64
	hash    string
	parents map[string]string
}

var treeAggregate = events.Aggregate{Type: events.AggregateOrg, ID: events.OrgTreeID}

// catchUp reads the tree events after the copy. Callers hold t.mu.
func (t *orgTree) catchUp(ctx context.Context, store events.Store) error {
	recs, err := store.Load(ctx, treeAggregate, t.version)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if e, ok := r.Event.(events.OrgPlaced); ok {
			t.parents[e.OrgID] = e.Parent
		}
		t.version, t.hash = r.Sequence, r.Hash()
	}
	return nil
}

// Parent implements org.Tree. Callers hold t.mu.
func (t *orgTree) Parent(id string) (string, bool) {
	p, ok := t.parents[id]
	return p, ok
}

// orgExists is strongly consistent: an org once defined is never removed,
// so a positive answer from the copy is final, and a negative one is
// confirmed against the store.
func (s *Authz) orgExists(ctx context.Context, id string) (bool, error) {
	s.tree.mu.Lock()
	defer s.tree.mu.Unlock()
	if _, ok := s.tree.parents[id]; ok {
		return true, nil
	}
	if err := s.tree.catchUp(ctx, s.store); err != nil {
		return false, err
	}
	_, ok := s.tree.parents[id]
	return ok, nil
}

// roleDefined checks the role aggregate; a cached "not defined" is
// re-read from the store, since another replica may have defined it.
func (s *Authz) roleDefined(ctx context.Context, name string) (bool, error) {
	id := events.RoleAggregateID(name)
	r, _, err := s.Roles.Get(ctx, id)
	if err == nil && !r.Defined() {
		r, _, err = s.Roles.Refresh(ctx, id)
	}
	if err != nil {
		return false, err
	}
	return r.Defined(), nil
}

// accountExists checks the account aggregate the same way.
func (s *Authz) accountExists(ctx context.Context, id string) (bool, error) {
	_, ver, err := s.Holders.Get(ctx, id)
	if err == nil && ver == 0 {
		_, ver, err = s.Holders.Refresh(ctx, id)
	}
	return ver > 0, err
}

// fresh brings the cached aggregate up to date before a decision that may
// append nothing (events.Repository.Refresh): "already held", "not a
// member" and the like must not rest on a cache another replica outdated.
func fresh[S events.State[S]](ctx context.Context, repo *events.Repository[S], id string) error {
	_, _, err := repo.Refresh(ctx, id)
	return err
}

// validAccountID accepts canonical UUIDs only: the id becomes a NATS
// subject token.
func validAccountID(id string) error {
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return role.ErrAccountNotFound
	}
	return nil
}

// DefineRole creates a role or replaces its permissions. created is true
// for a new role; perms are the role's permissions as stored (canonical,
// sorted). Defining a role as it is appends nothing (zero position).
func (s *Authz) DefineRole(ctx context.Context, meta events.Meta, name string, perms []string) (created bool, stored []string, pos events.Position, err error) {
	if err := role.ValidateName(name); err != nil {
		return false, nil, pos, err
	}
	norm, err := role.NormalizePermissions(perms)
	if err != nil {
		return false, nil, pos, err
	}
	if err := fresh(ctx, s.Roles, events.RoleAggregateID(name)); err != nil {
		return false, nil, pos, err
	}
	pos, _, err = s.Roles.Update(ctx, events.RoleAggregateID(name), meta, func(r *role.Role) (events.Decision, error) {
		created = !r.Defined()
		evs, err := r.Define(norm)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return false, nil, events.Position{}, translate(err)
	}
	return created, norm, pos, nil
}

// checkGrant validates a grant and that its role and org exist.
func checkGrant(accountID string, g role.Grant) error {
	if err := validAccountID(accountID); err != nil {
		return err
	}
	if err := role.ValidateName(g.Role); err != nil {
		return err
	}
	if g.Org != "" {
		if err := org.ValidateID("org", g.Org); err != nil {
			return err
		}
	}
	return nil
}

// Grant gives an account a role, everywhere or within one org (and its
// descendants). The role, the org and the account must exist (404
// role_not_found, org_not_found, not_found). created is false when the
// account held the grant already (nothing appended).
func (s *Authz) Grant(ctx context.Context, meta events.Meta, accountID string, g role.Grant) (created bool, pos events.Position, err error) {
	if err := checkGrant(accountID, g); err != nil {
		return false, pos, err
	}
	// Roles and orgs are never deleted, so once seen to exist they stay:
	// checking them outside the account's decision is safe.
	ok, err := s.roleDefined(ctx, g.Role)
	if err != nil {
		return false, pos, err
	}
	if !ok {
		return false, pos, role.ErrNotFound
	}
	if g.Org != "" {
		if ok, err = s.orgExists(ctx, g.Org); err != nil {
			return false, pos, err
		} else if !ok {
			return false, pos, org.ErrNotFound
		}
	}
	if err := fresh(ctx, s.Holders, accountID); err != nil {
		return false, pos, err
	}
	pos, _, err = s.Holders.Update(ctx, accountID, meta, func(h *role.Holder) (events.Decision, error) {
		created = !h.Holds(g)
		evs, err := h.Grant(g)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return false, events.Position{}, translate(err)
	}
	return created, pos, nil
}

// Revoke takes a grant back (the same role and org it was given with); a
// grant the account does not hold is 404 grant_not_found.
func (s *Authz) Revoke(ctx context.Context, meta events.Meta, accountID string, g role.Grant) (events.Position, error) {
	if err := checkGrant(accountID, g); err != nil {
		return events.Position{}, err
	}
	if err := fresh(ctx, s.Holders, accountID); err != nil {
		return events.Position{}, err
	}
	pos, _, err := s.Holders.Update(ctx, accountID, meta, func(h *role.Holder) (events.Decision, error) {
		evs, err := h.Revoke(g)
		return events.Decision{Events: evs}, err
	})
	return pos, translate(err)
}

// DefineOrg creates an org or changes its name or parent ("" = a root).
// The parent must exist (404 org_not_found) and must not be the org or one
// of its descendants (409 org_cycle); both are decided on the org/_tree
// aggregate, read fresh from the store, and the placement is appended
// expecting its last sequence, so concurrent moves on any number of
// replicas never build a cycle.
func (s *Authz) DefineOrg(ctx context.Context, meta events.Meta, id, name, parent string) (created bool, pos events.Position, err error) {
	if err := org.ValidateID("id", id); err != nil {
		return false, pos, err
	}
	if err := org.ValidateName(name); err != nil {
		return false, pos, err
	}
	if parent != "" {
		if err := org.ValidateID("parent", parent); err != nil {
			return false, pos, err
		}
	}
	s.placing.Lock()
	defer s.placing.Unlock()
	if err := fresh(ctx, s.Orgs, events.OrgAggregateID(id)); err != nil {
		return false, pos, err
	}
	pos, _, err = s.Orgs.Update(ctx, events.OrgAggregateID(id), meta, func(o *org.Org) (events.Decision, error) {
		s.tree.mu.Lock()
		defer s.tree.mu.Unlock()
		if err := s.tree.catchUp(ctx, s.store); err != nil {
			return events.Decision{}, err
		}
		created = !o.Exists()
		evs, placed, err := o.Define(&s.tree, name, parent)
		if err != nil || !placed {
			return events.Decision{Events: evs}, err
		}
		return events.Decision{Events: evs, Also: []events.Change{{
			Aggregate: treeAggregate, Expected: s.tree.version, PrevHash: s.tree.hash,
			Events: []events.Event{events.OrgPlaced{OrgID: id, Parent: parent}},
		}}}, nil
	})
	if err != nil {
		return false, events.Position{}, translate(err)
	}
	return created, pos, nil
}

// AddMember makes an account a member of an org (both must exist). added
// is false when it was a member already.
func (s *Authz) AddMember(ctx context.Context, meta events.Meta, orgID, accountID string) (added bool, pos events.Position, err error) {
	if err := s.checkMember(orgID, accountID); err != nil {
		return false, pos, err
	}
	// Accounts are never erased: once seen, the account stays.
	ok, err := s.accountExists(ctx, accountID)
	if err != nil {
		return false, pos, err
	}
	if !ok {
		return false, pos, role.ErrAccountNotFound
	}
	if err := fresh(ctx, s.Orgs, events.OrgAggregateID(orgID)); err != nil {
		return false, pos, err
	}
	pos, _, err = s.Orgs.Update(ctx, events.OrgAggregateID(orgID), meta, func(o *org.Org) (events.Decision, error) {
		added = o.Exists() && !o.HasMember(accountID)
		evs, err := o.AddMember(accountID)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return false, events.Position{}, translate(err)
	}
	return added, pos, nil
}

// RemoveMember ends a membership; a non-member is 404 member_not_found.
func (s *Authz) RemoveMember(ctx context.Context, meta events.Meta, orgID, accountID string) (events.Position, error) {
	if err := s.checkMember(orgID, accountID); err != nil {
		return events.Position{}, err
	}
	if err := fresh(ctx, s.Orgs, events.OrgAggregateID(orgID)); err != nil {
		return events.Position{}, err
	}
	pos, _, err := s.Orgs.Update(ctx, events.OrgAggregateID(orgID), meta, func(o *org.Org) (events.Decision, error) {
		evs, err := o.RemoveMember(accountID)
		return events.Decision{Events: evs}, err
	})
	return pos, translate(err)
}

func (s *Authz) checkMember(orgID, accountID string) error {
	if !org.ValidID(orgID) {
		return org.ErrNotFound
	}
	if accountID == "" {
		return domain.Invalid("account_id: required")
	}
	return validAccountID(accountID)
}
