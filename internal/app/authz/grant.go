package authz

import (
	"context"

	"github.com/bindery/bindery/domain/org"
	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

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
func (s *Service) Grant(ctx context.Context, meta events.Meta, accountID string, g role.Grant) (created bool, pos events.Position, err error) {
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
		return false, events.Position{}, usecase.Translate(err)
	}
	return created, pos, nil
}
