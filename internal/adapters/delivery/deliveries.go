package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	dwebhook "github.com/bindery/bindery/domain/webhook"
)

// DeliveriesStream keeps the outcome of the latest delivery attempts of
// each webhook, so an administrator sees what was sent lately and what
// failed (SPEC §9's "recent deliveries"), on every replica: one message
// per attempt on bindery.webhook_delivered.<webhook>, outside
// bindery.events.>. Only RecentKept per webhook are kept, for a day; it
// is a window for people, not a record (the history is the record).
const DeliveriesStream = "BINDERY_WEBHOOK_DELIVERIES"

// DeliveriesPrefix starts the subjects of DeliveriesStream.
const DeliveriesPrefix = "bindery.webhook_delivered."

// RecentKept is how many attempts of one webhook DeliveriesStream keeps.
const RecentKept = 50

// Delivery is the outcome of one attempt to POST an event to a webhook.
// Error is what post answered (never the URL nor the receiver's body).
type Delivery struct {
	EventID   string    `json:"event_id"`
	Type      string    `json:"type"`
	Attempt   int       `json:"attempt"`
	Delivered bool      `json:"delivered"`
	Error     string    `json:"error,omitempty"`
	At        time.Time `json:"at"`
	Millis    int64     `json:"duration_ms"`
}

// deliveryLog writes and reads DeliveriesStream.
type deliveryLog struct {
	js       jetstream.JetStream
	replicas int
	stream   jetstream.Stream
}

func (l *deliveryLog) open(ctx context.Context) error {
	st, err := l.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              DeliveriesStream,
		Description:       "Bindery webhook delivery attempts, the latest of each webhook (for the console)",
		Subjects:          []string{DeliveriesPrefix + ">"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: RecentKept,
		MaxAge:            24 * time.Hour,
		Discard:           jetstream.DiscardOld,
		Replicas:          l.replicas,
	})
	if err != nil {
		return fmt.Errorf("webhook: stream %s: %w", DeliveriesStream, err)
	}
	l.stream = st
	return nil
}

// record notes one attempt without waiting for the store: a lost note
// costs a line on a page, never a delivery.
func (l *deliveryLog) record(webhook string, d Delivery) {
	data, err := json.Marshal(d)
	if err != nil {
		return
	}
	_, _ = l.js.PublishAsync(DeliveriesPrefix+webhook, data)
}

// recent answers the kept attempts of a webhook, newest first.
func (l *deliveryLog) recent(ctx context.Context, webhook string) ([]Delivery, error) {
	c, err := l.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{DeliveriesPrefix + webhook},
		InactiveThreshold: 10 * time.Second, // the server drops it soon after
	})
	if err != nil {
		return nil, fmt.Errorf("webhook: read deliveries: %w", err)
	}
	out := []Delivery{}
	for {
		batch, err := c.FetchNoWait(RecentKept)
		if err != nil {
			return nil, fmt.Errorf("webhook: read deliveries: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var d Delivery
			if json.Unmarshal(m.Data(), &d) == nil {
				out = append(out, d)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("webhook: read deliveries: %w", err)
		}
		if n == 0 {
			break
		}
	}
	slices.Reverse(out)
	return out, nil
}

// Recent answers the latest delivery attempts to a webhook (at most
// RecentKept, from the last day), newest first.
func (f *Forwarder) Recent(ctx context.Context, id string) ([]Delivery, error) {
	if _, ok := f.regs.Get(id); !ok {
		return nil, dwebhook.ErrNotFound
	}
	return f.sent.recent(ctx, id)
}
