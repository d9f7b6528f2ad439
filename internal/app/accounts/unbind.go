package accounts

import (
	"context"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// Unbind detaches one binding from an account (admin); the identity's
// claim is released with it.
func (s *Service) Unbind(ctx context.Context, meta events.Meta, accountID, bindingID string) (events.Position, error) {
	pos, _, err := s.Repo.Update(ctx, accountID, meta, func(a *account.Account) (events.Decision, error) {
		evs, err := a.Unbind(bindingID, "admin")
		return events.Decision{Events: evs}, err
	})
	return pos, usecase.Translate(err)
}
