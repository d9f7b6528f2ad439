package accounts

import (
	"context"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// Enable lets a disabled account log in again (POST …/enable). Sessions
// refreshed while it was disabled were revoked then and stay revoked.
func (s *Service) Enable(ctx context.Context, meta events.Meta, id string) (events.Position, error) {
	pos, _, err := s.Repo.Update(ctx, id, meta, func(a *account.Account) (events.Decision, error) {
		evs, err := a.Enable()
		return events.Decision{Events: evs}, err
	})
	return pos, usecase.Translate(err)
}
