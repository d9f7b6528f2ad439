package projections_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/projections"
)

func webhookRecord(seq uint64, at time.Time, e events.Event) events.Record {
	return events.Record{Stream: events.StreamHistory, Sequence: seq, Envelope: events.Envelope{Time: at}, Event: e}
}

func TestWebhooksView(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	v := projections.NewWebhooks()
	v.Apply(webhookRecord(3, t0, events.WebhookRegistered{WebhookID: "crm", URL: "https://a.example", Events: []string{"account_created"}, SecretSealed: "v1:one"}))
	v.Apply(webhookRecord(4, t0, events.WebhookRegistered{WebhookID: "all", URL: "https://b.example", Events: []string{"*"}, SecretSealed: "v1:two"}))
	v.Apply(webhookRecord(7, t0.Add(time.Minute), events.WebhookUpdated{WebhookID: "crm", URL: "https://c.example", Events: []string{"account_created", "role_granted"}}))
	v.Apply(webhookRecord(8, t0, events.WebhookUpdated{WebhookID: "ghost", URL: "https://x.example", Events: []string{"*"}}))

	crm, ok := v.Get("crm")
	if !ok || crm.URL != "https://c.example" || crm.SecretSealed != "v1:one" || !crm.SecretSet || crm.Since != 3 || crm.Version != 7 || !crm.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("crm after update: %+v", crm)
	}
	if _, ok := v.Get("ghost"); ok {
		t.Fatal("an update of an unknown webhook created it")
	}
	ids := func(ws []projections.Webhook) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.ID)
		}
		return out
	}
	for name, want := range map[string][]string{"account_created": {"all", "crm"}, "role_granted": {"all", "crm"}, "login_failed": {"all"}} {
		if got := ids(v.Matching(name)); !slices.Equal(got, want) {
			t.Errorf("Matching(%q) = %v, want %v", name, got, want)
		}
	}
	// The read model never renders the sealed secret.
	b, _ := json.Marshal(crm)
	if strings.Contains(string(b), "v1:one") || !strings.Contains(string(b), `"secret_set":true`) {
		t.Fatalf("read model JSON: %s", b)
	}

	// Snapshot is deterministic and round-trips, sealed secret included.
	s1, _ := v.Snapshot()
	s2, _ := v.Snapshot()
	if !bytes.Equal(s1, s2) {
		t.Fatal("snapshot not deterministic")
	}
	w := projections.NewWebhooks()
	if err := w.Restore(s1); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.Get("crm"); got.SecretSealed != "v1:one" || got.Since != 3 || got.Version != 7 || !slices.Equal(got.Events, crm.Events) {
		t.Fatalf("restored: %+v", got)
	}

	v.Apply(webhookRecord(9, t0, events.WebhookDeleted{WebhookID: "crm"}))
	if _, ok := v.Get("crm"); ok || len(v.List()) != 1 {
		t.Fatalf("after delete: %v", v.List())
	}
	if err := w.Restore(nil); err != nil || len(w.List()) != 0 {
		t.Fatal("Restore(nil) does not reset")
	}
}
