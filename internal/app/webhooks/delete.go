package webhooks

import (
	"context"

	"github.com/bindery/bindery/domain/webhook"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// Delete removes the registration.
func (s *Service) Delete(ctx context.Context, meta events.Meta, id string) (events.Position, error) {
	if !webhook.ValidID(id) {
		return events.Position{}, webhook.ErrNotFound
	}
	pos, _, err := s.Repo.Update(ctx, id, meta, func(w *webhook.Webhook) (events.Decision, error) {
		evs, err := w.Delete()
		return events.Decision{Events: evs}, err
	})
	return pos, usecase.Translate(err)
}
