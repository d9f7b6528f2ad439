package delivery_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/adapters/delivery"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// consumerInfo is the forwarder consumer's delivered count and filter.
func consumerInfo(t *testing.T, env *testenv.Env, stream string) (uint64, []string) {
	t.Helper()
	c, err := env.App.Store.JetStream().Consumer(context.Background(), stream, delivery.Durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f := info.Config.FilterSubjects
	if info.Config.FilterSubject != "" {
		f = []string{info.Config.FilterSubject}
	}
	return info.Delivered.Consumer, f
}

// With no webhook registered the forwarder's consumers are handed no
// event; a webhook registered later gets the events of its types from its
// registration on (also those stored before the filter followed it), and
// only those; deleting it narrows the filter again.
func TestFilterFollowsRegistrations(t *testing.T) {
	t.Parallel()
	env := testenv.Start(t, "", fast)
	first := createAccount(t, env, "nobody-listens")
	if r := env.Admin("PATCH", "/v1/accounts/"+first, map[string]any{"display_name": "Still nobody"}); r.Status != http.StatusOK {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	for _, st := range []string{bjs.HistoryStream, bjs.AuthLogStream} {
		if n, f := consumerInfo(t, env, st); n != 0 {
			t.Fatalf("%s: %d events handed to the forwarder with no webhook (filter %v)", st, n, f)
		}
	}

	rcv := newReceiver(t, always(http.StatusOK))
	register(t, env, "late", rcv.URL, "account_updated")
	// At once, before the forwarder may have followed the registration.
	id := createAccount(t, env, "someone-listens")
	if r := env.Admin("PATCH", "/v1/accounts/"+id, map[string]any{"display_name": "Heard"}); r.Status != http.StatusOK {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		return len(rcv.delivered(t, "bindery.account_updated.v1")) >= 1
	})
	drained(t, env)
	for _, d := range rcv.deliveries() {
		ce := d.event(t)
		if ce.Type != "bindery.account_updated.v1" || ce.Subject != "account/"+id {
			t.Fatalf("the account_updated webhook got %s of %s", ce.Type, ce.Subject)
		}
	}
	if _, f := consumerInfo(t, env, bjs.HistoryStream); len(f) != 1 || f[0] != "bindery.events.*.*.account_updated" {
		t.Fatalf("filter with one webhook: %v", f)
	}

	if r := env.Admin("DELETE", "/v1/webhooks/late", nil); r.Status/100 != 2 {
		t.Fatalf("delete webhook: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, f := consumerInfo(t, env, bjs.HistoryStream)
		return len(f) == 1 && f[0] == "bindery.events.*.*.-none-"
	})
}
