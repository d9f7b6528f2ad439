// Package authz holds the commands of roles, grants and organisations.
package authz

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/org"
	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// Service handles the commands of roles, grants and organisations. Grants
// live on the account aggregate, decided on role.Holder (a write model that
// folds only what grants need); memberships live on the org aggregate.
type Service struct {
	Roles   *events.Repository[*role.Role]
	Holders *events.Repository[*role.Holder]
	Orgs    *events.Repository[*org.Org]

	store events.Store
	// placing serialises, within this process, the commands that change the
	// tree's shape; across replicas the expected sequence of org/_tree does.
	placing sync.Mutex
	tree    orgTree
}

// New wires the commands to a store.
func New(store events.Store) *Service {
	usecase.Require("authz.New", "store", store)
	return &Service{
		Roles:   events.NewRepository(store, events.AggregateRole, func(id string) *role.Role { return role.New(events.RoleName(id)) }, 10000),
		Holders: events.NewRepository(store, events.AggregateAccount, role.NewHolder, 50000),
		Orgs:    events.NewRepository(store, events.AggregateOrg, func(id string) *org.Org { return org.New(events.OrgID(id)) }, 10000),
		store:   store,
		tree:    orgTree{parents: map[string]string{}},
	}
}

// roleDefined checks the role aggregate; a cached "not defined" is
// re-read from the store, since another replica may have defined it.
func (s *Service) roleDefined(ctx context.Context, name string) (bool, error) {
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
func (s *Service) accountExists(ctx context.Context, id string) (bool, error) {
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
