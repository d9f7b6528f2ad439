package authz

import (
	"context"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/org"
	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// AddMember makes an account a member of an org (both must exist). added
// is false when it was a member already.
func (s *Service) AddMember(ctx context.Context, meta events.Meta, orgID, accountID string) (added bool, pos events.Position, err error) {
	if err := checkMember(orgID, accountID); err != nil {
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
		return false, events.Position{}, usecase.Translate(err)
	}
	return added, pos, nil
}

// checkMember validates the ids of a membership command.
func checkMember(orgID, accountID string) error {
	if !org.ValidID(orgID) {
		return org.ErrNotFound
	}
	if accountID == "" {
		return domain.Invalid("account_id: required")
	}
	return validAccountID(accountID)
}
