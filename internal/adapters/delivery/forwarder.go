// Package delivery is the webhook forwarder: a Watermill router fed by a
// durable JetStream consumer (bindery-webhooks) on the events of both
// streams POSTs every event to the webhooks whose filter matches, signed
// with HMAC-SHA256, retries with exponential backoff, and parks what keeps
// failing in a poison queue (the BINDERY_WEBHOOK_FAILED stream) that an
// administrator lists and redelivers.
//
// An event is acknowledged to JetStream only once every matching webhook
// got it or it was parked for that webhook, so a crash or restart delivers
// it again: delivery is at least once, and receivers deduplicate by the
// Idempotency-Key header (the CloudEvent id). Deliveries run concurrently,
// at most PerWebhook at a time to one webhook: there is no ordering
// guarantee between events. A webhook that keeps failing trips a circuit
// breaker, after which its events are parked without being sent until the
// breaker lets one try through, so a dead receiver does not hold the
// consumer's window for the others.
package delivery

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/server/metrics"
	"github.com/bindery/bindery/projections"
)

// Durable is the name of the forwarder's consumer on each event stream.
const Durable = "bindery-webhooks"

// SecretAAD prefixes the context a webhook's secret is sealed under (the
// webhook id follows); it must match internal/app/webhooks.SecretAAD.
const SecretAAD = "webhook-secret:"

// Results counted by Metrics.WebhookDelivery.
const (
	ResultDelivered = "delivered"
	ResultRetried   = "retried"
	ResultParked    = "parked"
)

// Metadata keys of the per-webhook copies of a message.
const (
	metaWebhook  = "bindery_webhook"
	metaAttempts = "bindery_attempts"
)

// Options tune delivery. Zero values take the defaults in brackets.
type Options struct {
	Attempts        int           // tries per event before it is parked [5]
	Backoff         time.Duration // wait after the first failed try, doubled after each [1s]
	MaxBackoff      time.Duration // longest wait between tries [5m]
	Jitter          float64       // ± fraction of randomness in each wait [0.2]; negative = none
	Timeout         time.Duration // per HTTP request [10s]
	PerWebhook      int           // concurrent requests to one webhook [8]
	MaxInFlight     int           // events waiting for deliveries, per stream [256]
	BreakerAfter    int           // parked events in a row that open a webhook's breaker [5]; negative = no breaker
	BreakerCooldown time.Duration // how long an open breaker parks without trying [1m]
	AckWait         time.Duration // JetStream redelivers after this much silence [30s]
	NakDelay        time.Duration // redelivery delay when an event could not be handled [5s]
	ViewWait        time.Duration // how long to wait for the registrations to catch up with an event [30s]
	FilterEvery     time.Duration // how often the consumers' event-type filters are checked against the registrations [200ms]
	Replicas        int           // replicas of the poison-queue stream [1]
	Client          *http.Client  // [a client that does not follow redirects]
	Logger          *slog.Logger
	Metrics         *metrics.Metrics
	Now             func() time.Time
	// Sealer opens the personal values of the events delivered; nil sends
	// them as stored.
	Sealer events.Sealer
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.Attempts == 0 {
		o.Attempts = 5
	}
	def(&o.Backoff, time.Second)
	def(&o.MaxBackoff, max(5*time.Minute, o.Backoff))
	def(&o.Timeout, 10*time.Second)
	def(&o.BreakerCooldown, time.Minute)
	def(&o.AckWait, 30*time.Second)
	def(&o.NakDelay, 5*time.Second)
	def(&o.ViewWait, 30*time.Second)
	def(&o.FilterEvery, 200*time.Millisecond)
	if o.Jitter == 0 {
		o.Jitter = 0.2
	} else if o.Jitter < 0 {
		o.Jitter = 0
	}
	if o.PerWebhook == 0 {
		o.PerWebhook = 8
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 256
	}
	if o.BreakerAfter == 0 {
		o.BreakerAfter = 5
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports every problem of the options.
func (o Options) Validate() error {
	var errs []error
	if o.Attempts < 1 || o.Attempts > 100 {
		errs = append(errs, errors.New("webhook: Attempts must be 1 to 100"))
	}
	if o.Backoff < time.Millisecond || o.MaxBackoff < o.Backoff {
		errs = append(errs, errors.New("webhook: Backoff must be at least 1ms and at most MaxBackoff"))
	}
	if o.Timeout < 10*time.Millisecond {
		errs = append(errs, errors.New("webhook: Timeout must be at least 10ms"))
	}
	if o.Jitter >= 1 {
		errs = append(errs, errors.New("webhook: Jitter must be below 1"))
	}
	if o.PerWebhook < 1 || o.MaxInFlight < 1 {
		errs = append(errs, errors.New("webhook: PerWebhook and MaxInFlight must be positive"))
	}
	return errors.Join(errs...)
}

// Registrations is what the forwarder knows of the webhooks: the
// projections.Webhooks view.
type Registrations interface {
	Get(id string) (projections.Webhook, bool)
	Matching(eventName string) []projections.Webhook
	List() []projections.Webhook
}

// Forwarder delivers events to webhooks.
type Forwarder struct {
	js     jetstream.JetStream
	regs   Registrations
	box    *secrets.Box
	waitFn func(context.Context, events.Position) error
	opts   Options
	log    *slog.Logger
	park   *parking
	sent   *deliveryLog // the latest attempts, for people (deliveries.go)

	router *message.Router
	sub    *Subscriber
	done   chan struct{}
	close  sync.Once
	stop   context.CancelFunc // the filter watch
	recent recentEvents       // what was forwarded lately (recent.go)

	mu    sync.Mutex
	lanes map[string]*lane
}

// New returns a forwarder. wait blocks until the registrations reflect a
// store position (the projection engine's WaitFor), so an event is matched
// against every webhook registered before it.
func New(js jetstream.JetStream, regs Registrations, box *secrets.Box, wait func(context.Context, events.Position) error, opts Options) (*Forwarder, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	f := &Forwarder{
		js: js, regs: regs, box: box, waitFn: wait, opts: opts, log: opts.Logger,
		park:  &parking{js: js, replicas: opts.Replicas, now: opts.Now},
		sent:  &deliveryLog{js: js, replicas: opts.Replicas},
		lanes: map[string]*lane{},
	}
	f.park.onPark = func(p Parked) {
		opts.Metrics.WebhookDelivery.WithLabelValues(ResultParked).Inc()
		f.log.Warn("webhook delivery parked", "webhook", p.Webhook, "event_id", p.EventID, "type", p.Type, "attempts", p.Attempts, "err", p.LastError)
	}
	return f, nil
}

// Start creates the poison-queue stream and the durable consumers, and runs
// the router until Close.
func (f *Forwarder) Start(ctx context.Context) error {
	if err := f.park.open(ctx); err != nil {
		return err
	}
	if err := f.sent.open(ctx); err != nil {
		return err
	}
	sub, err := NewSubscriber(f.js, SubscriberConfig{
		Durable: Durable, Existing: true,
		AckWait: f.opts.AckWait, NakDelay: f.opts.NakDelay, MaxInFlight: f.opts.MaxInFlight, Logger: f.log,
	})
	if err != nil {
		return err
	}
	// Create the consumers now (filtered by the event types the webhooks
	// want: filter.go), so a start-up problem fails Start and the
	// consumers exist before the first command is served.
	filter := filterSubjects(f.regs.List())
	for _, st := range []string{bjs.HistoryStream, bjs.AuthLogStream} {
		if err := f.ensureConsumer(ctx, st, filter); err != nil {
			return err
		}
	}
	wctx, stop := context.WithCancel(context.Background())
	f.stop = stop
	go f.watchRegistrations(wctx, filter)
	router, done, err := runRouter(ctx, f.log, "webhook", func(r *message.Router) {
		r.AddConsumerHandler("ForwardHistoryToWebhooks", bjs.HistoryStream, sub, f.forward)
		r.AddConsumerHandler("ForwardAuthLogToWebhooks", bjs.AuthLogStream, sub, f.forward)
	})
	if err != nil {
		stop()
		return err
	}
	f.router, f.sub, f.done = router, sub, done
	return nil
}

// Close stops the router: deliveries in progress end, and the events they
// were for go back to JetStream for the next run. It may be called twice.
func (f *Forwarder) Close() error {
	var err error
	f.close.Do(func() {
		if f.router == nil {
			return
		}
		f.stop()
		err = f.router.Close()
		<-f.done
		if cerr := f.sub.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	})
	return err
}
