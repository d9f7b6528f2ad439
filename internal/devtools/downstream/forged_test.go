package downstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Issue 13, finding 1: a raw publish of a role_granted for a role that was
// never defined, with an empty prevhash, was stored and applied. Now an
// anonymous client cannot connect, and the downstream user, which reads
// events, cannot publish one: nothing is stored, the view is unchanged.
func TestForgedPublishRefused(t *testing.T) {
	env, addr := start(t, "", "")
	id := createAccount(t, env, "Target")

	if nc, err := nats.Connect("nats://" + addr); err == nil {
		nc.Close()
		t.Fatal("an anonymous NATS client connected")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous: %v", err)
	}

	violations := make(chan error, 10)
	nc := connect(t, env, addr, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	forged, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": "forged-1", "source": "urn:bindery", "type": "bindery.role_granted.v1",
		"subject": "account/" + id, "time": time.Now().UTC(), "datacontenttype": "application/json",
		"actor": "attacker", "prevhash": "", "data": map[string]any{"account_id": id, "role": "superadmin"},
	})
	subject := "bindery.events.account." + id + ".role_granted"
	if err := nc.Publish(subject, forged); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-violations:
		if !strings.Contains(err.Error(), "Permissions Violation for Publish") {
			t.Fatalf("publish: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the forged publish was not refused")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, subject, forged); err == nil {
		t.Fatal("the forged JetStream publish was acknowledged")
	}

	// Bindery's own history of the account: only its creation, no role.
	r := env.Admin("GET", "/v1/audit/events?aggregate=account/"+id, nil)
	if r.Status != 200 || strings.Count(string(r.Body), `"specversion"`) != 1 || strings.Contains(string(r.Body), "superadmin") {
		t.Fatalf("history: %d %s", r.Status, r.Body)
	}
	if r := env.Admin("GET", "/v1/accounts/"+id, nil); r.Status != 200 || strings.Contains(string(r.Body), "superadmin") {
		t.Fatalf("account: %d %s", r.Status, r.Body)
	}
}
