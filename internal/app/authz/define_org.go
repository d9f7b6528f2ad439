package authz

import (
	"context"

	"github.com/bindery/bindery/domain/org"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// DefineOrg creates an org or changes its name or parent ("" = a root).
// The parent must exist (404 org_not_found) and must not be the org or one
// of its descendants (409 org_cycle); both are decided on the org/_tree
// aggregate, read fresh from the store, and the placement is appended
// expecting its last sequence, so concurrent moves on any number of
// replicas never build a cycle.
func (s *Service) DefineOrg(ctx context.Context, meta events.Meta, id, name, parent string) (created bool, pos events.Position, err error) {
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
		evs, placement, err := o.Define(&s.tree, name, parent)
		if err != nil || placement == nil {
			return events.Decision{Events: evs}, err
		}
		return events.Decision{Events: evs, Also: []events.Change{{
			Aggregate: treeAggregate, Expected: s.tree.version, PrevHash: s.tree.hash, Events: placement,
		}}}, nil
	})
	if err != nil {
		return false, events.Position{}, usecase.Translate(err)
	}
	return created, pos, nil
}
