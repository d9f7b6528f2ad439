package accounts

import (
	"context"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// Disable disables an account (DELETE in the admin API: accounts are never
// erased, their history stays).
func (s *Service) Disable(ctx context.Context, meta events.Meta, id string) (events.Position, error) {
	pos, _, err := s.Repo.Update(ctx, id, meta, func(a *account.Account) (events.Decision, error) {
		evs, err := a.Disable("admin")
		return events.Decision{Events: evs}, err
	})
	return pos, usecase.Translate(err)
}
