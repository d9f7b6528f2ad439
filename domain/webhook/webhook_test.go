package webhook_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/webhook"
	"github.com/bindery/bindery/events"
)

func known(n string) bool { return n != "nope" }

func TestSpecNormalize(t *testing.T) {
	tests := []struct {
		name   string
		spec   webhook.Spec
		events []string // want, when valid
		bad    string   // substring of the error, when invalid
	}{
		{name: "sorted, deduplicated", spec: webhook.Spec{URL: "https://h.example/x", Events: []string{"role_granted", "account_created", "role_granted"}}, events: []string{"account_created", "role_granted"}},
		{name: "star wins", spec: webhook.Spec{URL: "http://127.0.0.1:9/x", Events: []string{"account_created", "*"}}, events: []string{"*"}},
		{name: "no events", spec: webhook.Spec{URL: "https://h.example"}, bad: "events"},
		{name: "unknown event", spec: webhook.Spec{URL: "https://h.example", Events: []string{"nope"}}, bad: "not an event Bindery records"},
		{name: "malformed event", spec: webhook.Spec{URL: "https://h.example", Events: []string{"bindery.account_created.v1"}}, bad: "not an event name"},
		{name: "wildcard pattern", spec: webhook.Spec{URL: "https://h.example", Events: []string{"account_*"}}, bad: "not an event name"},
		{name: "no url", spec: webhook.Spec{Events: []string{"*"}}, bad: "url: required"},
		{name: "relative url", spec: webhook.Spec{URL: "/hook", Events: []string{"*"}}, bad: "absolute http(s)"},
		{name: "ftp url", spec: webhook.Spec{URL: "ftp://h.example/x", Events: []string{"*"}}, bad: "absolute http(s)"},
		{name: "credentials in url", spec: webhook.Spec{URL: "https://u:p@h.example/x", Events: []string{"*"}}, bad: "credentials"},
		{name: "fragment", spec: webhook.Spec{URL: "https://h.example/x#y", Events: []string{"*"}}, bad: "fragment"},
		{name: "long url", spec: webhook.Spec{URL: "https://h.example/" + strings.Repeat("a", 2048), Events: []string{"*"}}, bad: "at most"},
		{name: "too many events", spec: webhook.Spec{URL: "https://h.example", Events: slices.Repeat([]string{"account_created"}, 129)}, bad: "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.spec.Normalize(known)
			if tt.bad != "" {
				var de *domain.Error
				if !errors.As(err, &de) || de.Kind != domain.KindValidation || !strings.Contains(de.Message, tt.bad) {
					t.Fatalf("Normalize(%+v) = %v, want a validation error with %q", tt.spec, err, tt.bad)
				}
				return
			}
			if err != nil || !slices.Equal(got.Events, tt.events) {
				t.Fatalf("Normalize(%+v) = %+v, %v; want events %v", tt.spec, got, err, tt.events)
			}
		})
	}
}

func TestValidIDAndSecret(t *testing.T) {
	for id, want := range map[string]bool{"crm": true, "crm-sync_2": true, "0a": true, "": false, "Crm": false, "a.b": false, "a*": false, "-a": false, strings.Repeat("a", 65): false} {
		if webhook.ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, !want, want)
		}
	}
	if webhook.ValidateSecret("short") == nil || webhook.ValidateSecret(strings.Repeat("s", 513)) == nil || webhook.ValidateSecret(strings.Repeat("s", 16)) != nil {
		t.Fatal("secret length limits")
	}
}

func apply(w *webhook.Webhook, evs ...events.Event) {
	for _, e := range evs {
		w.Apply(events.Record{Event: e})
	}
}

func TestPutAndDelete(t *testing.T) {
	spec := webhook.Spec{URL: "https://h.example/a", Events: []string{"account_created"}}
	w := webhook.New("crm")

	// given nothing, when put without a secret, then it is refused
	if _, err := w.Put(spec, ""); !errors.Is(err, webhook.ErrSecretRequired) {
		t.Fatalf("register without secret: %v", err)
	}
	// when put with one, then registered
	evs, err := w.Put(spec, "v1:sealed")
	if err != nil || len(evs) != 1 {
		t.Fatalf("register: %v %v", evs, err)
	}
	if r, ok := evs[0].(events.WebhookRegistered); !ok || r.SecretSealed != "v1:sealed" || r.URL != spec.URL {
		t.Fatalf("register event: %#v", evs[0])
	}
	apply(w, evs...)
	// the same spec again records nothing
	if evs, err := w.Put(spec, ""); err != nil || len(evs) != 0 {
		t.Fatalf("idempotent put: %v %v", evs, err)
	}
	// a new url is an update keeping the secret
	spec2 := webhook.Spec{URL: "https://h.example/b", Events: spec.Events}
	evs, err = w.Put(spec2, "")
	if err != nil || len(evs) != 1 {
		t.Fatalf("update: %v %v", evs, err)
	}
	apply(w, evs...)
	if w.Spec().URL != spec2.URL || w.SecretSealed() != "v1:sealed" {
		t.Fatalf("after update: %+v %q", w.Spec(), w.SecretSealed())
	}
	// a new secret alone is an update too
	evs, _ = w.Put(spec2, "v1:other")
	apply(w, evs...)
	if w.SecretSealed() != "v1:other" {
		t.Fatalf("secret not replaced")
	}
	// delete, then delete again
	evs, err = w.Delete()
	if err != nil || len(evs) != 1 {
		t.Fatalf("delete: %v %v", evs, err)
	}
	apply(w, evs...)
	if w.Exists() || w.SecretSealed() != "" {
		t.Fatal("deleted webhook still holds state")
	}
	if _, err := w.Delete(); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// the id can be registered again
	if evs, err := w.Put(spec, "v1:again"); err != nil || len(evs) != 1 {
		t.Fatalf("re-register: %v %v", evs, err)
	}
}
