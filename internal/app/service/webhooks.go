package service

import (
	"context"
	"crypto/subtle"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/webhook"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/secrets"
)

// WebhookSecretAAD is the context a webhook's signing secret is sealed
// under: the webhook id follows it, so a sealed secret cannot be moved to
// another webhook.
const WebhookSecretAAD = "webhook-secret:"

// Webhooks handles the commands of webhook registrations.
type Webhooks struct {
	Repo *events.Repository[*webhook.Webhook]
	Box  *secrets.Box
	// Known says whether a short event name exists, so that a filter with a
	// typo is refused rather than silently matching nothing.
	Known func(name string) bool
}

// NewWebhooks wires the commands to a store; reg lists the event names a
// filter may use.
func NewWebhooks(store events.Store, box *secrets.Box, reg *events.Registry) *Webhooks {
	return &Webhooks{
		Repo:  events.NewRepository(store, events.AggregateWebhook, webhook.New, 1000),
		Box:   box,
		Known: KnownEventNames(reg),
	}
}

// KnownEventNames turns the registry's type names (bindery.<name>.v<n>)
// into a lookup of short names.
func KnownEventNames(reg *events.Registry) func(string) bool {
	names := map[string]bool{}
	for _, t := range reg.Names() {
		rest, ok := strings.CutPrefix(t, "bindery.")
		if i := strings.LastIndex(rest, ".v"); ok && i > 0 {
			names[rest[:i]] = true
		}
	}
	return func(n string) bool { return names[n] }
}

// PutWebhook registers or replaces a webhook. Secret nil keeps the current
// one (it is write-only, so a client that read the webhook cannot send it
// back); registering needs one.
type PutWebhook struct {
	URL    string
	Events []string
	Secret *string
}

// Put registers the webhook (created = true) or updates it. The secret is
// sealed before it reaches an event.
func (s *Webhooks) Put(ctx context.Context, meta events.Meta, id string, in PutWebhook) (created bool, _ webhook.Spec, _ events.Position, _ error) {
	if !webhook.ValidID(id) {
		return false, webhook.Spec{}, events.Position{}, domain.Invalid("id: 1-64 of a-z, 0-9, _ -, starting with a letter or digit")
	}
	spec, err := webhook.Spec{URL: strings.TrimSpace(in.URL), Events: in.Events}.Normalize(s.Known)
	if err != nil {
		return false, webhook.Spec{}, events.Position{}, err
	}
	aad := WebhookSecretAAD + id
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
		return false, webhook.Spec{}, events.Position{}, translate(err)
	}
	return created, spec, pos, nil
}

// Delete removes the registration.
func (s *Webhooks) Delete(ctx context.Context, meta events.Meta, id string) (events.Position, error) {
	if !webhook.ValidID(id) {
		return events.Position{}, webhook.ErrNotFound
	}
	pos, _, err := s.Repo.Update(ctx, id, meta, func(w *webhook.Webhook) (events.Decision, error) {
		evs, err := w.Delete()
		return events.Decision{Events: evs}, err
	})
	return pos, translate(err)
}
