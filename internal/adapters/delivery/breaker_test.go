package delivery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/devtools/natstest"
	"github.com/bindery/bindery/projections"
)

// fixedRegs is a Registrations with one webhook.
type fixedRegs struct {
	mu sync.Mutex
	w  projections.Webhook
}

func (r *fixedRegs) Get(id string) (projections.Webhook, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w, r.w.ID == id
}

func (r *fixedRegs) List() []projections.Webhook {
	w, _ := r.Get("dead")
	return []projections.Webhook{w}
}

func (r *fixedRegs) Matching(string) []projections.Webhook {
	w, _ := r.Get("dead")
	return []projections.Webhook{w}
}

// A webhook that fails event after event trips its breaker: later events
// are parked without a request, until a successful redelivery closes it.
func TestBreakerParksWithoutSending(t *testing.T) {
	t.Parallel()
	ns := natstest.Server(t, "")
	js, err := jetstream.New(natstest.Connect(t, ns.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	var status atomic.Int32
	status.Store(http.StatusInternalServerError)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(rcv.Close)

	box, err := secrets.NewBox([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := box.Seal([]byte("0123456789abcdef"), SecretAAD+"dead")
	regs := &fixedRegs{w: projections.Webhook{ID: "dead", URL: rcv.URL, Events: []string{"*"}, SecretSealed: sealed, Version: 1}}
	f, err := New(js, regs, box, nil, Options{Attempts: 1, BreakerAfter: 2, BreakerCooldown: time.Hour, Timeout: time.Second, PerWebhook: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.park.open(ctx); err != nil {
		t.Fatal(err)
	}
	send := func() string {
		id := uuid.NewString()
		msg := message.NewMessage(id, []byte(`{"specversion":"1.0","id":"`+id+`","type":"bindery.account_created.v1","subject":"account/x"}`))
		if err := f.deliverTo(ctx, regs.Matching("")[0], msg); err != nil {
			t.Fatalf("deliverTo: %v", err)
		}
		return id
	}
	for range 4 {
		send()
	}
	if n := requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2: the breaker opens after 2 failed events", n)
	}
	parked, more, err := f.Failed(ctx, "dead", 100)
	if err != nil || len(parked) != 4 || more {
		t.Fatalf("parked: %d %v %v", len(parked), more, err)
	}
	if p := parked[3]; p.Attempts != 0 || !strings.Contains(p.LastError, "not sent") {
		t.Fatalf("an event parked by the open breaker: %+v", p)
	}
	if p := parked[0]; p.Attempts != 1 || p.LastError != "HTTP 500" {
		t.Fatalf("an event that was tried: %+v", p)
	}

	// Redelivering while the receiver still fails gives up after two
	// failures: the other two are not sent.
	before := requests.Load()
	res, err := f.Redeliver(ctx, "dead", nil)
	if err != nil || len(res.Failed) != 4 || len(res.Redelivered) != 0 || requests.Load() != before+2 {
		t.Fatalf("redeliver while failing: %+v %v, %d requests", res, err, requests.Load()-before)
	}
	if !strings.HasPrefix(res.Failed[3].Error, "not sent") || res.Failed[0].Error != "HTTP 500" {
		t.Fatalf("redeliver errors: %+v", res.Failed)
	}

	// The receiver is back; one redelivery closes the breaker.
	status.Store(http.StatusOK)
	res, err = f.Redeliver(ctx, "dead", []string{parked[0].EventID})
	if err != nil || len(res.Redelivered) != 1 {
		t.Fatalf("redeliver: %+v %v", res, err)
	}
	before = requests.Load()
	send()
	if requests.Load() != before+1 {
		t.Fatal("the breaker stayed open after a successful redelivery")
	}
	if parked, _, _ := f.Failed(ctx, "dead", 100); len(parked) != 3 {
		t.Fatalf("%d parked, want 3", len(parked))
	}
}
