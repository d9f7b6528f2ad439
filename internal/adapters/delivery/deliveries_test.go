package delivery_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/adapters/delivery"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// The admin API (and the console's webhooks page) shows each attempt of
// the latest deliveries, newest first: here a failure, then its retry.
func TestRecentDeliveriesShowEachAttempt(t *testing.T) {
	t.Parallel()
	env := testenv.Start(t, "", fast)
	rcv := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	register(t, env, "crm", rcv.URL, "account_created")
	// The forwarder knows the webhook once its view caught up with the
	// registration; until an event comes there is nothing to show.
	var before testenv.Response
	testenv.Eventually(t, 10*time.Second, func() bool {
		before = env.Admin("GET", "/v1/webhooks/crm/deliveries", nil)
		return before.Status == http.StatusOK
	})
	if !strings.Contains(string(before.Body), `"deliveries":[]`) {
		t.Fatalf("before any event: %s", before.Body)
	}
	createAccount(t, env, "alice")
	testenv.Eventually(t, 10*time.Second, func() bool { return len(rcv.delivered(t, "bindery.account_created.v1")) == 1 })

	var got struct {
		Deliveries []delivery.Delivery `json:"deliveries"`
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		r := env.Admin("GET", "/v1/webhooks/crm/deliveries", nil)
		return r.Status == http.StatusOK && json.Unmarshal(r.Body, &got) == nil && len(got.Deliveries) == 2
	})
	last, first := got.Deliveries[0], got.Deliveries[1]
	if !last.Delivered || last.Attempt != 2 || last.Error != "" || last.Type != "bindery.account_created.v1" {
		t.Fatalf("newest attempt: %+v", last)
	}
	if first.Delivered || first.Attempt != 1 || first.Error != "HTTP 503" || first.EventID != last.EventID {
		t.Fatalf("first attempt: %+v", first)
	}
	if strings.Contains(string(env.Admin("GET", "/v1/webhooks/crm/deliveries", nil).Body), rcv.URL) {
		t.Fatal("the webhook's URL is in the deliveries")
	}
	if r := env.Admin("GET", "/v1/webhooks/nobody/deliveries", nil); r.Status != http.StatusNotFound {
		t.Fatalf("unknown webhook: %d %s", r.Status, r.Body)
	}
	if r := env.Do("GET", "/v1/webhooks/crm/deliveries", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("without the admin token: %d", r.Status)
	}
}
