package delivery_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/adapters/delivery"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// fast makes retries quick enough for tests.
var fast = map[string]string{"BINDERY_WEBHOOK_ATTEMPTS": "3", "BINDERY_WEBHOOK_BACKOFF": "10ms", "BINDERY_WEBHOOK_TIMEOUT": "2s"}

// received is one request a receiver got.
type received struct {
	Header http.Header
	Body   []byte
	Status int // what the receiver answered
}

// cloudEvent is the part of a delivered body the tests read.
type cloudEvent struct {
	SpecVersion string          `json:"specversion"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Subject     string          `json:"subject"`
	Data        json.RawMessage `json:"data"`
}

func (d received) event(t *testing.T) cloudEvent {
	t.Helper()
	var ce cloudEvent
	if err := json.Unmarshal(d.Body, &ce); err != nil {
		t.Fatalf("delivered body is not JSON: %v: %s", err, d.Body)
	}
	return ce
}

// receiver is an HTTP endpoint standing in for a downstream system; answer
// decides the status of the n-th request (1-based).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer atomic.Value // func(n int) int
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	r := &receiver{}
	r.answer.Store(answer)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.got) + 1
		status := r.answer.Load().(func(int) int)(n)
		r.got = append(r.got, received{Header: req.Header.Clone(), Body: body, Status: status})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) setAnswer(answer func(n int) int) { r.answer.Store(answer) }

func (r *receiver) deliveries() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// delivered returns the successful deliveries of events of this type.
func (r *receiver) delivered(t *testing.T, typ string) []received {
	var out []received
	for _, d := range r.deliveries() {
		if d.Status/100 == 2 && d.event(t).Type == typ {
			out = append(out, d)
		}
	}
	return out
}

func always(status int) func(int) int { return func(int) int { return status } }

const secret = "a-receiver-secret-0123456789"

func register(t *testing.T, env *testenv.Env, id, url string, evs ...string) {
	t.Helper()
	r := env.Admin("PUT", "/v1/webhooks/"+id, map[string]any{"url": url, "secret": secret, "events": evs})
	if r.Status != http.StatusCreated {
		t.Fatalf("register webhook %s: %d %s", id, r.Status, r.Body)
	}
}

func createAccount(t *testing.T, env *testenv.Env, username string) string {
	t.Helper()
	r := env.Admin("POST", "/v1/accounts", map[string]any{"username": username, "display_name": username})
	if r.Status != http.StatusCreated {
		t.Fatalf("create account: %d %s", r.Status, r.Body)
	}
	return r.Map(t)["id"].(string)
}

// checkSignature recomputes the HMAC the way a receiver would.
func checkSignature(t *testing.T, d received) {
	t.Helper()
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(d.Body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if got := d.Header.Get("X-Bindery-Signature"); got != want {
		t.Fatalf("signature %q, want %q", got, want)
	}
	if !delivery.Verify([]byte(secret), d.Body, d.Header.Get("X-Bindery-Signature")) {
		t.Fatal("delivery.Verify rejects a good signature")
	}
	if delivery.Verify([]byte(secret), append(d.Body, ' '), d.Header.Get("X-Bindery-Signature")) {
		t.Fatal("delivery.Verify accepts an altered body")
	}
}

// drained waits until the forwarder's consumers have acknowledged every
// event of both streams: nothing is waiting or in flight any more.
func drained(t *testing.T, env *testenv.Env) {
	t.Helper()
	js := env.App.Store.JetStream()
	testenv.Eventually(t, 10*time.Second, func() bool {
		for _, st := range []string{bjs.HistoryStream, bjs.AuthLogStream} {
			c, err := js.Consumer(context.Background(), st, delivery.Durable)
			if err != nil {
				return false
			}
			info, err := c.Info(context.Background())
			if err != nil || info.NumPending != 0 || info.NumAckPending != 0 {
				return false
			}
		}
		return true
	})
}

func deliveryCount(env *testenv.Env, result string) float64 {
	var m dto.Metric
	if err := env.App.Metrics.WebhookDelivery.WithLabelValues(result).Write(&m); err != nil {
		env.T.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// A receiver that fails the first delivery gets the same event again; the
// body is the stored CloudEvent, signed, with the event id as the
// idempotency key.
func TestFailedFirstDeliveryIsRetried(t *testing.T) {
	t.Parallel()
	env := testenv.Start(t, "", fast)
	rcv := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	register(t, env, "crm", rcv.URL, "account_created")
	accountID := createAccount(t, env, "alice")

	testenv.Eventually(t, 10*time.Second, func() bool { return len(rcv.delivered(t, "bindery.account_created.v1")) == 1 })
	got := rcv.deliveries()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2 (one failure, one success)", len(got))
	}
	first, second := got[0], got[1]
	ce := second.event(t)
	if ce.SpecVersion != "1.0" || ce.Subject != "account/"+accountID || !strings.Contains(string(ce.Data), accountID) {
		t.Fatalf("delivered event: %+v", ce)
	}
	if first.event(t).ID != ce.ID || first.Header.Get("Idempotency-Key") != ce.ID || second.Header.Get("Idempotency-Key") != ce.ID {
		t.Fatalf("idempotency keys %q, %q for event %s", first.Header.Get("Idempotency-Key"), second.Header.Get("Idempotency-Key"), ce.ID)
	}
	if string(first.Body) != string(second.Body) {
		t.Fatal("the retry sent another body")
	}
	for i, d := range got {
		if ct := d.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
			t.Errorf("delivery %d content type %q", i, ct)
		}
		if d.Header.Get("X-Bindery-Webhook") != "crm" || d.Header.Get("X-Bindery-Attempt") != []string{"1", "2"}[i] {
			t.Errorf("delivery %d headers %v", i, d.Header)
		}
		checkSignature(t, d)
	}
	// The stored event is what was delivered, byte for byte, once its
	// personal values are opened (webhooks get them opened, SPEC §8).
	recs, err := env.App.Store.Load(context.Background(), events.Aggregate{Type: "account", ID: accountID}, 0)
	opened := []byte(nil)
	if err == nil && len(recs) == 1 {
		opened, err = events.OpenEnvelope(env.App.Keys, recs[0].Raw, events.ErasedNull)
	}
	if err != nil || len(recs) != 1 || string(opened) != string(second.Body) || !events.IsSealed(recs[0].Raw) {
		t.Fatalf("stored event differs from the delivered one (%v)", err)
	}
	drained(t, env)
	if deliveryCount(env, delivery.ResultDelivered) != 1 || deliveryCount(env, delivery.ResultRetried) != 1 || deliveryCount(env, delivery.ResultParked) != 0 {
		t.Fatalf("metrics: delivered %v retried %v parked %v", deliveryCount(env, "delivered"), deliveryCount(env, "retried"), deliveryCount(env, "parked"))
	}
	if strings.Contains(env.Logs.String(), secret) {
		t.Fatal("the webhook secret is in the log")
	}
}

// A webhook gets only the events its filter names; "*" gets every event.
func TestEventFilter(t *testing.T) {
	t.Parallel()
	env := testenv.Start(t, "", fast)
	updates := newReceiver(t, always(http.StatusOK))
	all := newReceiver(t, always(http.StatusOK))
	register(t, env, "updates", updates.URL, "account_updated", "account_disabled")
	register(t, env, "all", all.URL, "*")

	id := createAccount(t, env, "bob")
	if r := env.Admin("PATCH", "/v1/accounts/"+id, map[string]any{"display_name": "Bobby"}); r.Status != http.StatusOK {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		return len(updates.delivered(t, "bindery.account_updated.v1")) == 1 && len(all.delivered(t, "bindery.account_updated.v1")) == 1
	})
	drained(t, env)
	if n := len(all.delivered(t, "bindery.account_created.v1")); n != 1 {
		t.Errorf("* got %d account_created, want 1", n)
	}
	for _, d := range updates.deliveries() {
		if typ := d.event(t).Type; typ != "bindery.account_updated.v1" {
			t.Errorf("the account_updated webhook got %s", typ)
		}
	}
	// A webhook's own registration is not delivered to it (it precedes it).
	for _, d := range all.deliveries() {
		if typ := d.event(t).Type; strings.HasPrefix(typ, "bindery.webhook_") {
			t.Errorf("* got %s, which happened before it was registered", typ)
		}
	}
}

// A receiver that always fails ends in the poison queue; the event is
// acknowledged there, listed, and redelivered on request once the receiver
// answers again.
func TestPoisonQueueAndRedelivery(t *testing.T) {
	t.Parallel()
	env := testenv.Start(t, "", fast)
	rcv := newReceiver(t, always(http.StatusServiceUnavailable))
	register(t, env, "erp", rcv.URL, "account_created")
	createAccount(t, env, "carol")

	type failedList struct {
		Failed []struct {
			EventID   string    `json:"event_id"`
			Type      string    `json:"type"`
			Attempts  int       `json:"attempts"`
			LastError string    `json:"last_error"`
			ParkedAt  time.Time `json:"parked_at"`
		} `json:"failed"`
		More bool `json:"more"`
	}
	var parked failedList
	testenv.Eventually(t, 10*time.Second, func() bool {
		r := env.Admin("GET", "/v1/webhooks/erp/failed", nil)
		parked = failedList{}
		r.JSON(t, &parked)
		return r.Status == http.StatusOK && len(parked.Failed) == 1
	})
	p := parked.Failed[0]
	if p.Type != "bindery.account_created.v1" || p.Attempts != 3 || p.LastError != "HTTP 503" || p.ParkedAt.IsZero() || parked.More {
		t.Fatalf("parked: %+v", parked)
	}
	if n := len(rcv.deliveries()); n != 3 {
		t.Fatalf("receiver got %d tries, want 3", n)
	}
	drained(t, env) // parking acknowledges the event
	if deliveryCount(env, delivery.ResultParked) != 1 || deliveryCount(env, delivery.ResultRetried) != 2 {
		t.Fatalf("metrics: parked %v retried %v", deliveryCount(env, "parked"), deliveryCount(env, "retried"))
	}

	// Still failing: the redelivery reports it, and the event stays parked.
	r := env.Admin("POST", "/v1/webhooks/erp/redeliver", nil)
	var res delivery.RedeliverResult
	r.JSON(t, &res)
	if r.Status != http.StatusOK || len(res.Failed) != 1 || res.Failed[0].EventID != p.EventID || res.Failed[0].Error != "HTTP 503" || len(res.Redelivered) != 0 {
		t.Fatalf("redeliver while failing: %d %s", r.Status, r.Body)
	}
	r = env.Admin("GET", "/v1/webhooks/erp/failed", nil)
	parked = failedList{}
	r.JSON(t, &parked)
	if len(parked.Failed) != 1 || parked.Failed[0].Attempts != 4 {
		t.Fatalf("after a failed redelivery: %s", r.Body)
	}

	// Bad requests.
	for _, tc := range []struct {
		path string
		body any
		code int
	}{
		{"/v1/webhooks/nobody/redeliver", nil, http.StatusNotFound},
		{"/v1/webhooks/erp/redeliver", map[string]any{"event_ids": []string{"not-a-uuid"}}, http.StatusBadRequest},
		{"/v1/webhooks/erp/redeliver", map[string]any{"events": []string{}}, http.StatusBadRequest},
		{"/v1/webhooks/erp/redeliver", "[1,", http.StatusBadRequest},
	} {
		if r := env.Admin("POST", tc.path, tc.body); r.Status != tc.code || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("POST %s %v: %d %s, want %d", tc.path, tc.body, r.Status, r.Body, tc.code)
		}
	}
	if r := env.Admin("GET", "/v1/webhooks/nobody/failed", nil); r.Status != http.StatusNotFound {
		t.Errorf("failed of an unknown webhook: %d", r.Status)
	}
	if r := env.Admin("GET", "/v1/webhooks/erp/failed?limit=0", nil); r.Status != http.StatusBadRequest {
		t.Errorf("limit=0: %d", r.Status)
	}
	if r := env.Do("POST", "/v1/webhooks/erp/redeliver", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("redeliver without the admin token: %d", r.Status)
	}

	// The receiver is back: redeliver that event by id.
	rcv.setAnswer(always(http.StatusOK))
	unknown := "00000000-0000-4000-8000-000000000000"
	r = env.Admin("POST", "/v1/webhooks/erp/redeliver", map[string]any{"event_ids": []string{p.EventID, unknown}})
	res = delivery.RedeliverResult{}
	r.JSON(t, &res)
	if r.Status != http.StatusOK || len(res.Redelivered) != 1 || res.Redelivered[0] != p.EventID || len(res.NotFound) != 1 || res.NotFound[0] != unknown || len(res.Failed) != 0 {
		t.Fatalf("redeliver: %d %s", r.Status, r.Body)
	}
	ok := rcv.delivered(t, "bindery.account_created.v1")
	if len(ok) != 1 || ok[0].Header.Get("Idempotency-Key") != p.EventID || ok[0].Header.Get("X-Bindery-Attempt") != "5" {
		t.Fatalf("redelivered: %+v", ok)
	}
	checkSignature(t, ok[0])
	r = env.Admin("GET", "/v1/webhooks/erp/failed", nil)
	parked = failedList{}
	r.JSON(t, &parked)
	if len(parked.Failed) != 0 {
		t.Fatalf("still parked after redelivery: %s", r.Body)
	}
}

// An event whose deliveries are still being retried when Bindery stops is
// delivered by the next run on the same data: it was never acknowledged.
func TestRestartLosesNoDelivery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	patient := map[string]string{"BINDERY_WEBHOOK_ATTEMPTS": "100", "BINDERY_WEBHOOK_BACKOFF": "20ms", "BINDERY_WEBHOOK_TIMEOUT": "2s"}
	rcv := newReceiver(t, always(http.StatusBadGateway))

	env1 := testenv.Start(t, dir, patient)
	register(t, env1, "warehouse", rcv.URL, "account_created")
	first := createAccount(t, env1, "dave")
	testenv.Eventually(t, 10*time.Second, func() bool { return len(rcv.deliveries()) >= 2 })
	env1.App.Close() // a graceful stop while the event is being retried

	rcv.setAnswer(always(http.StatusOK))
	env2 := testenv.Start(t, dir, patient)
	second := createAccount(t, env2, "erin")
	testenv.Eventually(t, 15*time.Second, func() bool { return len(rcv.delivered(t, "bindery.account_created.v1")) >= 2 })
	drained(t, env2)
	seen := map[string]bool{}
	for _, d := range rcv.delivered(t, "bindery.account_created.v1") {
		seen[d.event(t).Subject] = true
		checkSignature(t, d)
	}
	if !seen["account/"+first] || !seen["account/"+second] {
		t.Fatalf("delivered subjects %v, want both accounts", seen)
	}
	if r := env2.Admin("GET", "/v1/webhooks/warehouse/failed", nil); !strings.Contains(string(r.Body), `"failed":[]`) {
		t.Fatalf("parked after the restart: %s", r.Body)
	}
}

// A webhook that hangs does not hold up the others: they get each event
// while its request is still waiting.
func TestSlowWebhookDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	env := testenv.Start(t, "", map[string]string{"BINDERY_WEBHOOK_TIMEOUT": "30s"})
	release := make(chan struct{})
	var waiting atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		waiting.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the slow requests finish
	fast := newReceiver(t, always(http.StatusOK))
	register(t, env, "slow", slow.URL, "account_created")
	register(t, env, "fast", fast.URL, "account_created")

	createAccount(t, env, "frank")
	testenv.Eventually(t, 10*time.Second, func() bool { return waiting.Load() == 1 && len(fast.deliveries()) == 1 })
	createAccount(t, env, "grace")
	testenv.Eventually(t, 10*time.Second, func() bool { return len(fast.deliveries()) == 2 })
	// Both events wait on the hanging webhook at once (no head-of-line
	// blocking within one webhook either).
	testenv.Eventually(t, 10*time.Second, func() bool { return waiting.Load() == 2 })
}
