package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata keys the Subscriber sets on each Watermill message.
const (
	MetaStream    = "bindery_stream"    // the JetStream stream name
	MetaSequence  = "bindery_sequence"  // the stream sequence
	MetaSubject   = "bindery_subject"   // the NATS subject
	MetaDelivered = "bindery_delivered" // how often JetStream handed it out
)

// SubscriberConfig shapes the durable consumers.
type SubscriberConfig struct {
	Durable       string // consumer name, the same on every stream
	FilterSubject string // which subjects of the stream
	// Existing: the caller makes the consumers (and keeps their filters);
	// Subscribe only looks them up, and FilterSubject is not used.
	Existing    bool
	AckWait     time.Duration // redelivery after this much silence (kept alive while a handler works)
	NakDelay    time.Duration // redelivery delay after a handler failed
	MaxInFlight int           // unacknowledged messages, per stream (the consumer's MaxAckPending)
	FetchWait   time.Duration // how long one pull request stays open on the server
	Logger      *slog.Logger
}

func (c *SubscriberConfig) setDefaults() {
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.NakDelay == 0 {
		c.NakDelay = 5 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 256
	}
	if c.FetchWait == 0 {
		c.FetchWait = 250 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem of the configuration.
func (c SubscriberConfig) Validate() error {
	var errs []error
	if c.Durable == "" {
		errs = append(errs, errors.New("webhook subscriber: Durable is required"))
	}
	if c.FilterSubject == "" && !c.Existing {
		errs = append(errs, errors.New("webhook subscriber: FilterSubject is required"))
	}
	if c.AckWait < time.Second {
		errs = append(errs, errors.New("webhook subscriber: AckWait must be at least 1s"))
	}
	if c.FetchWait < 100*time.Millisecond {
		errs = append(errs, errors.New("webhook subscriber: FetchWait must be at least 100ms"))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, errors.New("webhook subscriber: MaxInFlight must be positive"))
	}
	return errors.Join(errs...)
}

// Subscriber is a Watermill message.Subscriber over durable JetStream pull
// consumers: Subscribe(ctx, stream) hands out that stream's messages in
// stream order, up to MaxInFlight at once, and acknowledges a JetStream
// message only when its Watermill message is acked (a nack redelivers it
// after NakDelay). While a handler works on a message the subscriber tells
// JetStream so, and a Close hands unfinished messages back at once, so a
// restart or another replica picks them up without waiting for AckWait.
type Subscriber struct {
	js  jetstream.JetStream
	cfg SubscriberConfig

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine
	pulls  sync.WaitGroup // the pull loops
	pulled chan struct{}  // closed once the pull loops ended, at Close
	once   sync.Once
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a subscriber; consumers are made by Subscribe (or
// earlier by Consumer).
func NewSubscriber(js jetstream.JetStream, cfg SubscriberConfig) (*Subscriber, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Subscriber{js: js, cfg: cfg, ctx: ctx, cancel: cancel, pulled: make(chan struct{})}, nil
}

// Consumer creates the durable consumer on stream, or updates the one that
// exists (keeping its position). It starts with the messages stored after
// its creation.
func (s *Subscriber) Consumer(ctx context.Context, stream string) (jetstream.Consumer, error) {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       s.cfg.Durable,
		Description:   "Bindery webhook forwarder",
		FilterSubject: s.cfg.FilterSubject,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    -1, // the forwarder parks what fails; the server never drops
		MaxAckPending: s.cfg.MaxInFlight,
	})
	if err != nil {
		return nil, fmt.Errorf("webhook subscriber: consumer %s on %s: %w", s.cfg.Durable, stream, err)
	}
	return cons, nil
}

// Subscribe implements message.Subscriber; topic is a stream name.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if s.ctx.Err() != nil {
		return nil, errors.New("webhook subscriber: closed")
	}
	var cons jetstream.Consumer
	var err error
	if s.cfg.Existing {
		cons, err = s.js.Consumer(ctx, topic, s.cfg.Durable)
	} else {
		cons, err = s.Consumer(ctx, topic)
	}
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	runCtx, stop := context.WithCancel(s.ctx)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
		case <-runCtx.Done():
		}
		stop()
	}()
	s.pulls.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.pulls.Done()
		defer close(out)
		s.pull(runCtx, topic, cons, out)
	}()
	return out, nil
}

// pull fetches while there is room: every fetched message is either handed
// out or given back (nak), none waits unseen for AckWait. Each fetch is a
// short pull request that expires on the server; while stopping, messages
// are given back only once the open request is over, since the server
// would hand a message given back earlier to that same request again.
func (s *Subscriber) pull(ctx context.Context, stream string, cons jetstream.Consumer, out chan<- *message.Message) {
	slots := make(chan struct{}, s.cfg.MaxInFlight)
	release := func() { <-slots }
	for ctx.Err() == nil {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		free := 1
	fill:
		for free < cap(slots) && free < 256 {
			select {
			case slots <- struct{}{}:
				free++
			default:
				break fill
			}
		}
		batch, err := cons.Fetch(free, jetstream.FetchMaxWait(s.cfg.FetchWait))
		if err != nil {
			for range free {
				release()
			}
			if ctx.Err() == nil {
				s.cfg.Logger.Warn("webhook consumer fetch", "stream", stream, "err", err)
				s.pause(ctx, time.Second)
			}
			continue
		}
		used := 0
		var held []jetstream.Msg
		for jm := range batch.Messages() {
			used++
			if ctx.Err() != nil || !s.emit(ctx, stream, jm, out, release) {
				held = append(held, jm)
			}
		}
		for _, jm := range held {
			s.giveBack(jm)
			release()
		}
		for range free - used {
			release()
		}
		if err := batch.Error(); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("webhook consumer batch", "stream", stream, "err", err)
			s.pause(ctx, time.Second)
		}
	}
}

// pause waits d or until ctx ends (a retry delay after a broken fetch).
func (s *Subscriber) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// emit hands one message to the router and settles it when it is done. It
// reports false when the message was not handed out (stopping).
func (s *Subscriber) emit(ctx context.Context, stream string, jm jetstream.Msg, out chan<- *message.Message, release func()) bool {
	md, err := jm.Metadata()
	if err != nil {
		s.cfg.Logger.Error("webhook consumer: message without metadata", "stream", stream, "err", err)
		_ = jm.NakWithDelay(s.cfg.NakDelay)
		release()
		return true
	}
	id := jm.Headers().Get(jetstream.MsgIDHeader)
	if id == "" {
		id = uuid.NewString()
	}
	wm := message.NewMessage(id, jm.Data())
	wm.Metadata.Set(MetaStream, stream)
	wm.Metadata.Set(MetaSequence, strconv.FormatUint(md.Sequence.Stream, 10))
	wm.Metadata.Set(MetaSubject, jm.Subject())
	wm.Metadata.Set(MetaDelivered, strconv.FormatUint(md.NumDelivered, 10))
	wm.SetContext(ctx)
	select {
	case out <- wm:
	case <-ctx.Done():
		return false
	}
	s.wg.Add(1)
	go s.settle(jm, wm, release)
	return true
}

// settle waits for the handler's verdict, keeping the message alive on the
// server meanwhile, and passes the verdict to JetStream.
func (s *Subscriber) settle(jm jetstream.Msg, wm *message.Message, release func()) {
	defer s.wg.Done()
	defer release()
	tick := time.NewTicker(s.cfg.AckWait / 3)
	defer tick.Stop()
	for {
		select {
		case <-wm.Acked():
			// Not confirmed: a lost ack only means one more delivery, and
			// a round trip per event would slow busy streams.
			if err := jm.Ack(); err != nil {
				s.cfg.Logger.Warn("webhook consumer ack (the event may be delivered again)", "subject", jm.Subject(), "err", err)
			}
			return
		case <-wm.Nacked():
			if s.ctx.Err() == nil {
				_ = jm.NakWithDelay(s.cfg.NakDelay)
				return
			}
			// Closing: give it back once no pull request of ours is open
			// any more (the server would hand it to one at once).
			<-s.pulled
			s.giveBack(jm)
			return
		case <-tick.C:
			_ = jm.InProgress()
		}
	}
}

// giveBack returns a message for immediate redelivery, to another replica
// or to the next run of this one. A plain nak only queues it in the
// server's memory, which a restart forgets (the message would then wait for
// AckWait); a nak with a delay stores an expired delivery time, which
// survives. It waits for the server's confirmation so that a shutdown
// right after cannot overtake it.
func (s *Subscriber) giveBack(jm jetstream.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := s.js.Conn().RequestWithContext(ctx, jm.Reply(), []byte(`-NAK {"delay": 1000000}`)); err != nil {
		s.cfg.Logger.Warn("webhook consumer: message not given back (redelivered after the ack wait)", "subject", jm.Subject(), "err", err)
	}
}

// Close stops fetching, lets handlers settle what they hold (their context
// ends, so they finish quickly) and returns. It may be called more than once.
func (s *Subscriber) Close() error {
	s.once.Do(func() {
		s.cancel()
		go func() { s.pulls.Wait(); close(s.pulled) }()
	})
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("webhook subscriber: messages still in flight at close")
	}
}
