package qr

import (
	"context"
	"time"

	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
)

// Confirm records that the user who scanned approves the PC's login.
func (s *Service) Confirm(ctx context.Context, meta events.Meta, id, accountID string) (Step, events.Position, error) {
	return s.step(ctx, meta, id, accountID, func(q *qrlogin.QR, now time.Time) ([]events.Event, error) {
		return q.Confirm(accountID, now)
	})
}
