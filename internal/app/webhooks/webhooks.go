// Package webhooks holds the commands of webhook registrations: put and
// delete.
package webhooks

import (
	"strings"

	"github.com/bindery/bindery/domain/webhook"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/secrets"
)

// SecretAAD is the context a webhook's signing secret is sealed under: the
// webhook id follows it, so a sealed secret cannot be moved to another
// webhook.
const SecretAAD = "webhook-secret:"

// Service handles the commands of webhook registrations.
type Service struct {
	Repo *events.Repository[*webhook.Webhook]
	Box  *secrets.Box
	// Known says whether a short event name exists, so that a filter with a
	// typo is refused rather than silently matching nothing.
	Known func(name string) bool
}

// New wires the commands to a store; reg lists the event names a filter
// may use.
func New(store events.Store, box *secrets.Box, reg *events.Registry) *Service {
	usecase.Require("webhooks.New", "store", store, "box", box, "registry", reg)
	return &Service{
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
