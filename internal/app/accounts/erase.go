package accounts

import (
	"context"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// Shredder finishes an erasure outside the history, after account_erased
// is stored: it destroys the account's data key and replaces the views'
// snapshot once they hold the tombstone. Each step can be done again, and
// the server does again at start-up whatever a crash left undone.
type Shredder interface {
	Shred(ctx context.Context, accountID string, erasedAt events.Position) error
}

// Erase erases the account's person (POST /v1/accounts/{id}/erase, SPEC
// §8). account_erased is appended first, with the release of every value
// and identity the account holds: that append is the decision, all of it
// or nothing. The data key goes next (Shredder); a crash between the two
// leaves the erasure to be finished on restart, never undone. Erasing an
// erased account appends nothing and shreds again, so a retry after a
// failure finishes the job.
func (s *Service) Erase(ctx context.Context, meta events.Meta, id string) (events.Position, error) {
	pos, _, err := s.Repo.Update(ctx, id, meta, func(a *account.Account) (events.Decision, error) {
		evs, err := a.Erase("admin")
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return events.Position{}, usecase.Translate(err)
	}
	if s.Shredder != nil {
		if err := s.Shredder.Shred(ctx, id, pos); err != nil {
			return events.Position{}, err
		}
	}
	return pos, nil
}
