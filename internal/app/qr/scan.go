package qr

import (
	"context"
	"time"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
)

// Scan records that the user accountID (logged in to userApp) scanned the
// code, and answers who asked.
func (s *Service) Scan(ctx context.Context, meta events.Meta, id, accountID, userApp string) (Step, events.Position, error) {
	if acc, ok := s.Accounts.Get(accountID); ok && account.Blocked(acc.Status) != nil {
		return Step{}, events.Position{}, account.Blocked(acc.Status)
	}
	return s.step(ctx, meta, id, accountID, func(q *qrlogin.QR, now time.Time) ([]events.Event, error) {
		return q.Scan(accountID, userApp, now)
	})
}
