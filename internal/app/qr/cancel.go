package qr

import (
	"context"
	"time"

	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
)

// Cancel records that the user who scanned refuses the PC's login.
func (s *Service) Cancel(ctx context.Context, meta events.Meta, id, accountID string) (Step, events.Position, error) {
	return s.step(ctx, meta, id, accountID, func(q *qrlogin.QR, now time.Time) ([]events.Event, error) {
		return q.Cancel(accountID, now)
	})
}
