package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
)

// FailedStream is the JetStream stream of parked deliveries (the poison
// queue): one message per webhook and event, on
// bindery.webhook_failed.<webhook>.<event id>, outside bindery.events.> so
// that neither the forwarder nor downstream subscribers see it.
const FailedStream = "BINDERY_WEBHOOK_FAILED"

// FailedPrefix starts the subjects of FailedStream.
const FailedPrefix = "bindery.webhook_failed."

// Parked is one delivery that kept failing, waiting for a redelivery.
type Parked struct {
	Webhook   string    `json:"webhook"`
	EventID   string    `json:"event_id"`
	Type      string    `json:"type"`
	Subject   string    `json:"subject"` // the CloudEvent subject (aggregate)
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	ParkedAt  time.Time `json:"parked_at"`

	// Event is the CloudEvent as stored and as signed: sent again as is.
	Event []byte `json:"-"`
	seq   uint64 // in FailedStream
}

// parkedRecord is what FailedStream stores (Event as base64, so the bytes
// stay exactly the ones the signature covers).
type parkedRecord struct {
	Parked
	Event []byte `json:"event"`
}

// parking is the poison queue on FailedStream.
type parking struct {
	js       jetstream.JetStream
	replicas int
	stream   jetstream.Stream
	now      func() time.Time
	// onPark observes each delivery the poison-queue middleware parks.
	onPark func(Parked)
}

func (p *parking) open(ctx context.Context) error {
	st, err := p.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              FailedStream,
		Description:       "Bindery webhook deliveries that kept failing (redeliver or delete the webhook)",
		Subjects:          []string{FailedPrefix + ">"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1, // parking an event again replaces its entry
		Discard:           jetstream.DiscardOld,
		Replicas:          p.replicas,
		AllowDirect:       p.replicas == 1,
	})
	if err != nil {
		return fmt.Errorf("webhook: stream %s: %w", FailedStream, err)
	}
	p.stream = st
	return nil
}

func failedSubject(webhook, eventID string) string {
	return FailedPrefix + webhook + "." + eventID
}

// put stores (or replaces) one parked delivery.
func (p *parking) put(ctx context.Context, e Parked) error {
	data, err := json.Marshal(parkedRecord{Parked: e, Event: e.Event})
	if err != nil {
		return err
	}
	if _, err := p.js.Publish(ctx, failedSubject(e.Webhook, e.EventID), data); err != nil {
		return fmt.Errorf("webhook: park: %w", err)
	}
	return nil
}

// list returns up to limit parked deliveries of a webhook, oldest first,
// and whether more exist.
func (p *parking) list(ctx context.Context, webhook string, limit int) ([]Parked, bool, error) {
	filter := FailedPrefix + webhook + ".*"
	out := []Parked{}
	for seq := uint64(1); ; {
		m, err := p.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("webhook: list parked: %w", err)
		}
		if len(out) == limit {
			return out, true, nil
		}
		var rec parkedRecord
		if err := json.Unmarshal(m.Data, &rec); err == nil {
			e := rec.Parked
			e.Event, e.seq = rec.Event, m.Sequence
			out = append(out, e)
		}
		seq = m.Sequence + 1
	}
}

// remove deletes one parked entry (already gone is fine: someone else
// redelivered or re-parked it).
func (p *parking) remove(ctx context.Context, e Parked) error {
	err := p.stream.DeleteMsg(ctx, e.seq)
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) && !errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
		return fmt.Errorf("webhook: remove parked: %w", err)
	}
	return nil
}

// purge drops every parked entry of a webhook.
func (p *parking) purge(ctx context.Context, webhook string) error {
	if err := p.stream.Purge(ctx, jetstream.WithPurgeSubject(FailedPrefix+webhook+".*")); err != nil {
		return fmt.Errorf("webhook: purge parked: %w", err)
	}
	return nil
}

// Publish implements message.Publisher, so that Watermill's PoisonQueue
// middleware parks into FailedStream; topic is ignored (the webhook id and
// event id name the subject).
func (p *parking) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		var env struct {
			Type    string `json:"type"`
			Subject string `json:"subject"`
		}
		_ = json.Unmarshal(m.Payload, &env)
		attempts, _ := strconv.Atoi(m.Metadata.Get(metaAttempts))
		e := Parked{
			Webhook: m.Metadata.Get(metaWebhook), EventID: m.UUID, Type: env.Type, Subject: env.Subject,
			Attempts: attempts, LastError: m.Metadata.Get(middleware.ReasonForPoisonedKey), ParkedAt: p.now().UTC(),
			Event: m.Payload,
		}
		// Parking must not be lost to the shutdown that cancelled the
		// delivery: it gets a context of its own.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := p.put(ctx, e)
		cancel()
		if err != nil {
			return err
		}
		if p.onPark != nil {
			p.onPark(e)
		}
	}
	return nil
}

// Close implements message.Publisher.
func (p *parking) Close() error { return nil }
