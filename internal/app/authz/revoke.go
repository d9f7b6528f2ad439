package authz

import (
	"context"

	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// Revoke takes a grant back (the same role and org it was given with); a
// grant the account does not hold is 404 grant_not_found.
func (s *Service) Revoke(ctx context.Context, meta events.Meta, accountID string, g role.Grant) (events.Position, error) {
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
	return pos, usecase.Translate(err)
}
