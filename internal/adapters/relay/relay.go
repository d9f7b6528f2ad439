// Package relay republishes opened copies of Bindery's events on
// bindery.public.<aggregate>.<id>.<event> into BINDERY_PUBLIC, a stream
// with bounded retention, for NATS consumers that need the personal values
// the history keeps sealed (SPEC §8); when an account is erased it purges
// the account's copies there.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
)

// Names of what the relay keeps in JetStream.
const (
	// Stream holds the opened copies; unlike the history it allows purges
	// and drops what is older than MaxAge.
	Stream = "BINDERY_PUBLIC"
	// SubjectPrefix starts every subject of Stream.
	SubjectPrefix = "bindery.public."
	// Durable is the relay's consumer on each event stream, shared by every
	// replica; one replica at a time is pinned to it (single active).
	Durable = "bindery-public-relay"
	// IndexBucket maps an account to the copies of other aggregates that
	// concern it (sessions, logins, tickets, QR logins, memberships), so an
	// erasure knows what to purge; its entries expire with the copies.
	IndexBucket = "BINDERY_PUBLIC_INDEX"
	// DefaultMaxAge is how long a copy is kept: 7 days.
	DefaultMaxAge = 7 * 24 * time.Hour
	// priorityGroup is the one pull group of the pinned consumers.
	priorityGroup = "relay"
)

// Options shape the relay.
type Options struct {
	// MaxAge is how long a copy stays in Stream after it was relayed
	// (default 7 days); the first start relays the events of that window.
	MaxAge   time.Duration
	Replicas int
	// Sealer opens the sealed personal values (the server's keyring).
	Sealer events.Sealer
	Logger *slog.Logger
	// Batch is how many events one pull takes (default 256).
	Batch int
	// AckWait is when JetStream hands an unacknowledged event out again
	// (default 30 s); PinnedTTL how long a replica that stopped pulling
	// stays the active one (default 10 s).
	AckWait   time.Duration
	PinnedTTL time.Duration
	// FetchWait is how long one pull waits for events (default 1 s).
	FetchWait time.Duration
	// Duplicates is Stream's dedupe window (default 2 minutes): an event
	// republished again within it (after a crash between publish and ack)
	// is stored once.
	Duplicates time.Duration
}

func (o *Options) setDefaults() {
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.PinnedTTL <= 0 {
		o.PinnedTTL = 10 * time.Second
	}
	if o.FetchWait <= 0 {
		o.FetchWait = time.Second
	}
	if o.Duplicates <= 0 {
		o.Duplicates = 2 * time.Minute
	}
}

// Relay follows both event streams and republishes what it reads.
type Relay struct {
	js     jetstream.JetStream
	opts   Options
	public jetstream.Stream
	index  jetstream.KeyValue
	cons   map[string]jetstream.Consumer // by event stream kind

	erased erasedSet
	linked linkCache

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New creates (or opens) Stream, the index bucket and the durable
// consumers. Start runs the relay.
func New(ctx context.Context, js jetstream.JetStream, opts Options) (*Relay, error) {
	opts.setDefaults()
	if opts.Sealer == nil {
		return nil, errors.New("relay: a Sealer is required (it opens the copies)")
	}
	r := &Relay{js: js, opts: opts, cons: map[string]jetstream.Consumer{}}
	var err error
	r.public, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        Stream,
		Description: "Bindery events with personal values opened, kept for a bounded time (SPEC §8)",
		Subjects:    []string{SubjectPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      opts.MaxAge,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
		Duplicates:  opts.Duplicates,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return nil, fmt.Errorf("relay: stream %s: %w", Stream, err)
	}
	r.index, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      IndexBucket,
		Description: "Which public copies concern which account (for erasure)",
		History:     1,
		TTL:         opts.MaxAge + time.Hour,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("relay: bucket %s: %w", IndexBucket, err)
	}
	for _, kind := range []string{events.StreamHistory, events.StreamAuthLog} {
		c, err := r.consumer(ctx, bjs.StreamName(kind))
		if err != nil {
			return nil, err
		}
		r.cons[kind] = c
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if err := r.erased.follow(ctx, r.ctx, r.index, &r.wg); err != nil {
		r.cancel()
		r.wg.Wait()
		return nil, err
	}
	return r, nil
}

// consumer opens the relay's durable consumer on one event stream, making
// it on the first start: it then begins MaxAge ago, so the public stream
// holds what it would have held had the relay always run, and the rest of
// the history is not copied out.
func (r *Relay) consumer(ctx context.Context, stream string) (jetstream.Consumer, error) {
	c, err := r.js.Consumer(ctx, stream, Durable)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("relay: consumer on %s: %w", stream, err)
	}
	since := time.Now().Add(-r.opts.MaxAge)
	c, err = r.js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:        Durable,
		Description:    "Bindery public relay (bindery.public.>)",
		FilterSubject:  events.SubjectPrefix + ">",
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &since,
		AckPolicy:      jetstream.AckAllPolicy,
		AckWait:        r.opts.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  4 * r.opts.Batch,
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{priorityGroup},
		PinnedTTL:      r.opts.PinnedTTL,
	})
	if errors.Is(err, jetstream.ErrConsumerExists) {
		// Another replica made it first.
		c, err = r.js.Consumer(ctx, stream, Durable)
	}
	if err != nil {
		return nil, fmt.Errorf("relay: consumer on %s: %w", stream, err)
	}
	return c, nil
}

// Start relays each event stream in its own goroutine until Close.
func (r *Relay) Start() {
	for kind, c := range r.cons {
		r.wg.Go(func() { r.run(kind, c) })
	}
}

// Close stops relaying; events read and not yet acknowledged go to the
// replica that is pinned next (or to this one after a restart).
func (r *Relay) Close() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
}

// PublicSubject is the subject of an event's copy.
func PublicSubject(eventSubject string) string {
	return SubjectPrefix + eventSubject[len(events.SubjectPrefix):]
}
