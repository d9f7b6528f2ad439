package webhooks

import (
	"context"
	"crypto/subtle"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/webhook"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// Put registers or replaces a webhook. Secret nil keeps the current one
// (it is write-only, so a client that read the webhook cannot send it
// back); registering needs one.
type Put struct {
	URL    string
	Events []string
	Secret *string
}

// Put registers the webhook (created = true) or updates it. The secret is
// sealed before it reaches an event.
func (s *Service) Put(ctx context.Context, meta events.Meta, id string, in Put) (created bool, _ webhook.Spec, _ events.Position, _ error) {
	if !webhook.ValidID(id) {
		return false, webhook.Spec{}, events.Position{}, domain.Invalid("id: 1-64 of a-z, 0-9, _ -, starting with a letter or digit")
	}
	spec, err := webhook.Spec{URL: strings.TrimSpace(in.URL), Events: in.Events}.Normalize(s.Known)
	if err != nil {
		return false, webhook.Spec{}, events.Position{}, err
	}
	aad := SecretAAD + id
	var sealed string
	if in.Secret != nil {
		if err := webhook.ValidateSecret(*in.Secret); err != nil {
			return false, webhook.Spec{}, events.Position{}, err
		}
		if sealed, err = s.Box.Seal([]byte(*in.Secret), aad); err != nil {
			return false, webhook.Spec{}, events.Position{}, err
		}
	}
	pos, _, err := s.Repo.Update(ctx, id, meta, func(w *webhook.Webhook) (events.Decision, error) {
		created = !w.Exists()
		newSealed := sealed
		if newSealed != "" && w.Exists() {
			// The same secret again is no change: keep PUT repeatable.
			if old, err := s.Box.Open(w.SecretSealed(), aad); err == nil && subtle.ConstantTimeCompare(old, []byte(*in.Secret)) == 1 {
				newSealed = ""
			}
		}
		evs, err := w.Put(spec, newSealed)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return false, webhook.Spec{}, events.Position{}, usecase.Translate(err)
	}
	return created, spec, pos, nil
}
