// Package webhook holds the webhook registration aggregate: where matching
// events are POSTed, which events match, and the sealed signing secret.
// State is folded from events; decisions return new events. No I/O here.
package webhook

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Errors of the webhook aggregate.
var (
	ErrNotFound       = domain.New(domain.KindNotFound, "not_found", "webhook not found")
	ErrSecretRequired = domain.New(domain.KindValidation, "validation_failed", "secret: required when a webhook is registered")
)

// All is the event filter that matches every event.
const All = "*"

// Limits of a registration.
const (
	MaxURLLength    = 2048
	MinSecretLength = 16
	MaxSecretLength = 512
	MaxEvents       = 128
)

var (
	idPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	eventPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// ValidID reports whether s is a webhook id: 1–64 of a-z 0-9 _ -, starting
// with a letter or digit (it becomes a NATS subject token).
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Spec is what an administrator registers: the target URL and the events
// (short names such as account_created, or "*") it wants.
type Spec struct {
	URL    string
	Events []string
}

// Normalize checks the spec and returns it in canonical form: events sorted
// without duplicates, ["*"] when "*" is among them. known says whether a
// short event name exists (nil accepts every well-formed name).
func (s Spec) Normalize(known func(name string) bool) (Spec, error) {
	if err := validateURL(s.URL); err != nil {
		return Spec{}, err
	}
	if len(s.Events) == 0 {
		return Spec{}, domain.Invalid(`events: name at least one event (like "account_created"), or "*" for all`)
	}
	if len(s.Events) > MaxEvents {
		return Spec{}, domain.Invalid("events: at most %d names", MaxEvents)
	}
	names := make([]string, 0, len(s.Events))
	for _, n := range s.Events {
		n = strings.TrimSpace(n)
		switch {
		case n == All:
			return Spec{URL: s.URL, Events: []string{All}}, nil
		case !eventPattern.MatchString(n):
			return Spec{}, domain.Invalid(`events: %q is not an event name (like "account_created") or "*"`, n)
		case known != nil && !known(n):
			return Spec{}, domain.Invalid("events: %q is not an event Bindery records", n)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return Spec{URL: s.URL, Events: slices.Compact(names)}, nil
}

func validateURL(raw string) error {
	if raw == "" {
		return domain.Invalid("url: required")
	}
	if len(raw) > MaxURLLength {
		return domain.Invalid("url: at most %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "":
		return domain.Invalid("url: must be an absolute http(s) URL")
	case u.User != nil:
		// Credentials in the URL would show in every read: the secret is
		// the place for them.
		return domain.Invalid("url: must not hold credentials; the receiver checks the signature instead")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return domain.Invalid("url: must not have a fragment")
	}
	return nil
}

// ValidateSecret checks a signing secret's length (it is used as an
// HMAC-SHA256 key, so short secrets are guessable).
func ValidateSecret(s string) error {
	if len(s) < MinSecretLength || len(s) > MaxSecretLength {
		return domain.Invalid("secret: %d to %d characters", MinSecretLength, MaxSecretLength)
	}
	return nil
}

// Webhook is the state of one webhook aggregate.
type Webhook struct {
	id           string
	exists       bool
	spec         Spec
	secretSealed string
}

// New returns the empty state of the webhook with this id.
func New(id string) *Webhook { return &Webhook{id: id} }

// ID is the webhook's id.
func (w *Webhook) ID() string { return w.id }

// Exists reports whether the webhook is registered (and not deleted).
func (w *Webhook) Exists() bool { return w.exists }

// Spec is the current URL and event filter.
func (w *Webhook) Spec() Spec { return w.spec }

// SecretSealed is the sealed signing secret.
func (w *Webhook) SecretSealed() string { return w.secretSealed }

// Clone copies the state.
func (w *Webhook) Clone() *Webhook {
	c := *w
	c.spec.Events = slices.Clone(w.spec.Events)
	return &c
}

// Apply folds one event into the state.
func (w *Webhook) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case events.WebhookRegistered:
		w.exists = true
		w.spec = Spec{URL: e.URL, Events: slices.Clone(e.Events)}
		w.secretSealed = e.SecretSealed
	case events.WebhookUpdated:
		w.spec = Spec{URL: e.URL, Events: slices.Clone(e.Events)}
		if e.SecretSealed != "" {
			w.secretSealed = e.SecretSealed
		}
	case events.WebhookDeleted:
		*w = Webhook{id: w.id}
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*Webhook) Folds() []events.Event {
	return []events.Event{events.WebhookRegistered{}, events.WebhookUpdated{}, events.WebhookDeleted{}}
}

// Put registers the webhook or replaces its URL and filter. spec must be
// normalized. secretSealed is a new sealed secret, or "" to keep the
// current one; registering needs one. Putting what is already there
// records nothing, so a PUT can be repeated safely.
func (w *Webhook) Put(spec Spec, secretSealed string) ([]events.Event, error) {
	if !w.exists {
		if secretSealed == "" {
			return nil, ErrSecretRequired
		}
		return []events.Event{events.WebhookRegistered{
			WebhookID: w.id, URL: spec.URL, Events: spec.Events, SecretSealed: secretSealed,
		}}, nil
	}
	if secretSealed == "" && spec.URL == w.spec.URL && slices.Equal(spec.Events, w.spec.Events) {
		return nil, nil
	}
	return []events.Event{events.WebhookUpdated{
		WebhookID: w.id, URL: spec.URL, Events: spec.Events, SecretSealed: secretSealed,
	}}, nil
}

// Delete removes the registration.
func (w *Webhook) Delete() ([]events.Event, error) {
	if !w.exists {
		return nil, ErrNotFound
	}
	return []events.Event{events.WebhookDeleted{WebhookID: w.id}}, nil
}
