package projections

import (
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/bindery/bindery/events"
)

// Webhook is the read model of one webhook registration. The sealed secret
// is kept for the forwarder but never rendered: reads show SecretSet.
type Webhook struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	SecretSet bool      `json:"secret_set"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// SecretSealed is the signing secret sealed under the master key.
	SecretSealed string `json:"-"`
	// Since is the history sequence of the registration: a webhook gets
	// history events after it (and auth-log events from CreatedAt on).
	Since uint64 `json:"-"`
	// Version is the history sequence of the last change, so the forwarder
	// notices a new URL or secret.
	Version uint64 `json:"-"`
}

// Matches reports whether the webhook wants events of this short name.
func (w Webhook) Matches(name string) bool {
	for _, e := range w.Events {
		if e == "*" || e == name {
			return true
		}
	}
	return false
}

// Webhooks is the view of webhook registrations.
type Webhooks struct {
	mu    sync.RWMutex
	byID  map[string]*Webhook
	apply Dispatch // the view's own table, for Apply
}

// NewWebhooks returns an empty view.
func NewWebhooks() *Webhooks {
	v := &Webhooks{byID: map[string]*Webhook{}}
	v.apply = NewDispatch(v)
	return v
}

// Name implements Projection.
func (v *Webhooks) Name() string { return "webhooks" }

// Reducers implements Projection: the webhook view's table.
func (v *Webhooks) Reducers() []Reducer {
	return guarded(&v.mu, On(v.registered), On(v.updated), On(v.deleted))
}

// Apply reduces one record into the view (through its table).
func (v *Webhooks) Apply(r events.Record) { v.apply.Apply(r) }

// The reducers run under v.mu (guarded). A stored *Webhook is replaced,
// never changed: readers hold the old value.

func (v *Webhooks) registered(e events.WebhookRegistered, r events.Record) {
	at := r.Envelope.Time
	v.byID[e.WebhookID] = &Webhook{
		ID: e.WebhookID, URL: e.URL, Events: slices.Clone(e.Events), SecretSet: e.SecretSealed != "",
		CreatedAt: at, UpdatedAt: at, SecretSealed: e.SecretSealed, Since: r.Sequence, Version: r.Sequence,
	}
}

func (v *Webhooks) updated(e events.WebhookUpdated, r events.Record) {
	w := v.byID[e.WebhookID]
	if w == nil {
		return
	}
	next := *w
	next.URL, next.Events, next.UpdatedAt, next.Version = e.URL, slices.Clone(e.Events), r.Envelope.Time, r.Sequence
	if e.SecretSealed != "" {
		next.SecretSealed, next.SecretSet = e.SecretSealed, true
	}
	v.byID[e.WebhookID] = &next
}

func (v *Webhooks) deleted(e events.WebhookDeleted, _ events.Record) {
	delete(v.byID, e.WebhookID)
}

// Get returns the webhook, or false.
func (v *Webhooks) Get(id string) (Webhook, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	w, ok := v.byID[id]
	if !ok {
		return Webhook{}, false
	}
	return *w, true
}

// List returns every webhook, by id.
func (v *Webhooks) List() []Webhook {
	v.mu.RLock()
	out := make([]Webhook, 0, len(v.byID))
	for _, w := range v.byID {
		out = append(out, *w)
	}
	v.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Matching returns the webhooks that want events of this short name, by id.
func (v *Webhooks) Matching(name string) []Webhook {
	v.mu.RLock()
	var out []Webhook
	for _, w := range v.byID {
		if w.Matches(name) {
			out = append(out, *w)
		}
	}
	v.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// webhookSnapshot holds what the read model hides, so a restart keeps it.
type webhookSnapshot struct {
	Webhook
	SecretSealed string `json:"secret_sealed"`
	Since        uint64 `json:"since"`
	Version      uint64 `json:"version"`
}

// Snapshot implements Projection: the webhooks by id.
func (v *Webhooks) Snapshot() (json.RawMessage, error) {
	list := v.List()
	out := make([]webhookSnapshot, len(list))
	for i, w := range list {
		out[i] = webhookSnapshot{Webhook: w, SecretSealed: w.SecretSealed, Since: w.Since, Version: w.Version}
	}
	return json.Marshal(out)
}

// Restore implements Projection; nil resets the view.
func (v *Webhooks) Restore(raw json.RawMessage) error {
	var list []webhookSnapshot
	if raw != nil {
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
	}
	byID := make(map[string]*Webhook, len(list))
	for _, s := range list {
		w := s.Webhook
		w.SecretSealed, w.Since, w.Version = s.SecretSealed, s.Since, s.Version
		byID[w.ID] = &w
	}
	v.mu.Lock()
	v.byID = byID
	v.mu.Unlock()
	return nil
}
