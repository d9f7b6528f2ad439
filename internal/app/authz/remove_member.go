package authz

import (
	"context"

	"github.com/bindery/bindery/domain/org"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// RemoveMember ends a membership; a non-member is 404 member_not_found.
func (s *Service) RemoveMember(ctx context.Context, meta events.Meta, orgID, accountID string) (events.Position, error) {
	if err := checkMember(orgID, accountID); err != nil {
		return events.Position{}, err
	}
	if err := fresh(ctx, s.Orgs, events.OrgAggregateID(orgID)); err != nil {
		return events.Position{}, err
	}
	pos, _, err := s.Orgs.Update(ctx, events.OrgAggregateID(orgID), meta, func(o *org.Org) (events.Decision, error) {
		evs, err := o.RemoveMember(accountID)
		return events.Decision{Events: evs}, err
	})
	return pos, usecase.Translate(err)
}
