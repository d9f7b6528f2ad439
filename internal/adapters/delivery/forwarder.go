// Package webhook is the webhook forwarder: a Watermill router fed by a
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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sony/gobreaker"

	"github.com/bindery/bindery/domain"
	dwebhook "github.com/bindery/bindery/domain/webhook"
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
	Replicas        int           // replicas of the poison-queue stream [1]
	Client          *http.Client  // [a client that does not follow redirects]
	Logger          *slog.Logger
	Metrics         *metrics.Metrics
	Now             func() time.Time
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

	router *message.Router
	sub    *Subscriber
	done   chan struct{}
	close  sync.Once

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
	sub, err := NewSubscriber(f.js, SubscriberConfig{
		Durable: Durable, FilterSubject: events.SubjectPrefix + ">",
		AckWait: f.opts.AckWait, NakDelay: f.opts.NakDelay, MaxInFlight: f.opts.MaxInFlight, Logger: f.log,
	})
	if err != nil {
		return err
	}
	// Create the consumers now, so a start-up problem fails Start and the
	// consumers exist before the first command is served.
	for _, st := range []string{bjs.HistoryStream, bjs.AuthLogStream} {
		if _, err := sub.Consumer(ctx, st); err != nil {
			return err
		}
	}
	logger := watermill.NewSlogLoggerWithLevelMapping(f.log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 15 * time.Second}, logger)
	if err != nil {
		return err
	}
	router.AddMiddleware(middleware.Recoverer)
	router.AddConsumerHandler("ForwardHistoryToWebhooks", bjs.HistoryStream, sub, f.forward)
	router.AddConsumerHandler("ForwardAuthLogToWebhooks", bjs.AuthLogStream, sub, f.forward)
	f.router, f.sub, f.done = router, sub, make(chan struct{})
	go func() {
		defer close(f.done)
		if err := router.Run(context.Background()); err != nil {
			f.log.Error("webhook router stopped", "err", err)
		}
	}()
	select {
	case <-router.Running():
		return nil
	case <-f.done:
		return errors.New("webhook: router did not start")
	case <-ctx.Done():
		_ = router.Close()
		return ctx.Err()
	}
}

// Close stops the router: deliveries in progress end, and the events they
// were for go back to JetStream for the next run. It may be called twice.
func (f *Forwarder) Close() error {
	var err error
	f.close.Do(func() {
		if f.router == nil {
			return
		}
		err = f.router.Close()
		<-f.done
		if cerr := f.sub.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	})
	return err
}

// errGone: the webhook was deleted while its delivery waited. Not a
// failure: the event is simply not delivered.
var errGone = errors.New("webhook deleted")

// envelopeHead is the part of a CloudEvent the forwarder reads.
type envelopeHead struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Subject string    `json:"subject"`
	Time    time.Time `json:"time"`
}

// forward is the router handler: one event, fanned out to every matching
// webhook. It returns once each of them got it or parked it; an error
// (shutdown, or the poison queue unreachable) nacks the event, and then
// every matching webhook gets it again later.
func (f *Forwarder) forward(msg *message.Message) error {
	ctx := msg.Context()
	stream := msg.Metadata.Get(MetaStream)
	seq, _ := strconv.ParseUint(msg.Metadata.Get(MetaSequence), 10, 64)
	_, name := events.ParseSubject(msg.Metadata.Get(MetaSubject))
	var head envelopeHead
	if err := json.Unmarshal(msg.Payload, &head); err != nil || name == "" {
		f.log.Error("webhook: undeliverable message skipped", "stream", stream, "seq", seq, "err", err)
		return nil
	}
	kind := events.StreamHistory
	pos := events.Position{History: seq}
	if stream == bjs.AuthLogStream {
		kind, pos = events.StreamAuthLog, events.Position{AuthLog: seq}
	}
	wctx, cancel := context.WithTimeout(ctx, f.opts.ViewWait)
	err := f.waitFn(wctx, pos)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("webhook: registrations did not reach %s: %w", pos, err)
	}
	var targets []projections.Webhook
	for _, w := range f.regs.Matching(name) {
		if registeredBefore(w, kind, seq, head.Time) {
			targets = append(targets, w)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, w := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.deliverTo(ctx, w, msg)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// registeredBefore says whether the event came after the webhook's
// registration: exactly by sequence for history events, by time for
// auth-log events (another stream, so no common sequence).
func registeredBefore(w projections.Webhook, kind string, seq uint64, at time.Time) bool {
	if kind == events.StreamHistory {
		return seq > w.Since
	}
	return !at.Before(w.CreatedAt)
}

// lane is one webhook's delivery path: its concurrency limit and its chain
// of Watermill middleware (poison queue ← circuit breaker ← retry ← POST).
// A new version of the webhook (URL, secret) gets a new lane, so a fixed
// URL starts with a closed breaker.
type lane struct {
	version uint64
	slots   chan struct{}
	handle  message.HandlerFunc
}

func (f *Forwarder) lane(w projections.Webhook) *lane {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l := f.lanes[w.ID]; l != nil && l.version == w.Version {
		return l
	}
	l := &lane{version: w.Version, slots: make(chan struct{}, f.opts.PerWebhook), handle: f.chain(w.ID)}
	f.lanes[w.ID] = l
	return l
}

// resetLane drops a webhook's lane (and so its breaker state).
func (f *Forwarder) resetLane(id string) {
	f.mu.Lock()
	delete(f.lanes, id)
	f.mu.Unlock()
}

// chain builds the middleware around one POST.
func (f *Forwarder) chain(id string) message.HandlerFunc {
	var h message.HandlerFunc = func(m *message.Message) ([]*message.Message, error) {
		return nil, f.attempt(m)
	}
	h = middleware.Retry{
		MaxRetries:          f.opts.Attempts - 1,
		InitialInterval:     f.opts.Backoff,
		MaxInterval:         f.opts.MaxBackoff,
		Multiplier:          2,
		RandomizationFactor: f.opts.Jitter,
		ShouldRetry:         func(p middleware.RetryParams) bool { return !final(p.Err) },
	}.Middleware(h)
	if f.opts.BreakerAfter > 0 {
		after := uint32(f.opts.BreakerAfter)
		cb := middleware.NewCircuitBreaker(gobreaker.Settings{
			Name:         id,
			MaxRequests:  1,
			Timeout:      f.opts.BreakerCooldown,
			ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= after },
			IsSuccessful: func(err error) bool { return err == nil || final(err) },
		})
		inner := cb.Middleware(h)
		cooldown := f.opts.BreakerCooldown
		h = func(m *message.Message) ([]*message.Message, error) {
			out, err := inner(m)
			if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
				err = fmt.Errorf("not sent: the webhook failed %d events in a row, so its deliveries are paused (next try within %s)", after, cooldown)
			}
			return out, err
		}
	}
	poison, err := middleware.PoisonQueueWithFilter(f.park, FailedStream, func(err error) bool { return !final(err) })
	if err != nil {
		panic(err) // only for an empty topic, which FailedStream is not
	}
	return poison(h)
}

// final errors end a delivery without parking it: the webhook is gone, or
// the forwarder is stopping (the event goes back to JetStream).
func final(err error) bool {
	return errors.Is(err, errGone) || errors.Is(err, context.Canceled)
}

// deliverTo runs one webhook's chain on a copy of the message.
func (f *Forwarder) deliverTo(ctx context.Context, w projections.Webhook, msg *message.Message) error {
	l := f.lane(w)
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.slots }()
	m := msg.Copy()
	m.SetContext(ctx)
	m.Metadata.Set(metaWebhook, w.ID)
	m.Metadata.Set(metaAttempts, "0")
	_, err := l.handle(m)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errGone):
		f.resetLane(w.ID)
		return nil
	}
	return err
}

// attempt is one POST of the message to its webhook, as the webhook is now
// (its URL or secret may have changed since the event arrived).
func (f *Forwarder) attempt(m *message.Message) error {
	ctx := m.Context()
	if err := ctx.Err(); err != nil {
		return err
	}
	id := m.Metadata.Get(metaWebhook)
	w, ok := f.regs.Get(id)
	if !ok {
		return errGone
	}
	n, _ := strconv.Atoi(m.Metadata.Get(metaAttempts))
	n++
	m.Metadata.Set(metaAttempts, strconv.Itoa(n))
	if n > 1 {
		f.opts.Metrics.WebhookDelivery.WithLabelValues(ResultRetried).Inc()
	}
	if err := f.post(ctx, w, m.UUID, m.Payload, n); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.log.Info("webhook delivery failed", "webhook", id, "event_id", m.UUID, "attempt", n, "err", err)
		return err
	}
	f.opts.Metrics.WebhookDelivery.WithLabelValues(ResultDelivered).Inc()
	return nil
}

// post sends the CloudEvent to the webhook. Its errors never hold the URL
// (which may carry a token in its query) or anything the receiver sent.
func (f *Forwarder) post(ctx context.Context, w projections.Webhook, eventID string, body []byte, attempt int) error {
	secret, err := f.box.Open(w.SecretSealed, SecretAAD+w.ID)
	if err != nil {
		return fmt.Errorf("the webhook's secret cannot be opened (was the master key changed?): %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("the webhook URL is not usable")
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "Bindery-Webhooks/1")
	req.Header.Set(HeaderSignature, Sign(secret, body))
	req.Header.Set(HeaderIdempotencyKey, eventID)
	req.Header.Set(HeaderWebhook, w.ID)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	resp, err := f.opts.Client.Do(req)
	if err != nil {
		var ue *url.Error
		switch {
		case ctx.Err() == context.DeadlineExceeded:
			return fmt.Errorf("no answer within %s", f.opts.Timeout)
		case errors.As(err, &ue):
			return ue.Err
		}
		return err
	}
	// Drain a little so the connection can be reused; the body is ignored.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// Failed lists up to limit parked deliveries of a webhook, oldest first,
// and whether more exist.
func (f *Forwarder) Failed(ctx context.Context, id string, limit int) ([]Parked, bool, error) {
	if _, ok := f.regs.Get(id); !ok {
		return nil, false, dwebhook.ErrNotFound
	}
	return f.park.list(ctx, id, limit)
}

// RedeliverResult says what a redelivery did with each parked event.
type RedeliverResult struct {
	Redelivered []string          `json:"redelivered"`
	Failed      []RedeliveryError `json:"failed"`
	NotFound    []string          `json:"not_found"`
}

// RedeliveryError is a parked event that failed again (it stays parked).
type RedeliveryError struct {
	EventID string `json:"event_id"`
	Error   string `json:"error"`
}

// MaxRedeliver bounds the parked events one redelivery call sends.
const MaxRedeliver = 1000

// Redeliver sends parked events of a webhook again, once each, at most
// PerWebhook at a time: all of them (up to MaxRedeliver) when eventIDs is
// empty. A delivered event leaves the poison queue; one that fails stays,
// with its attempts and last error updated. When the first redeliveries all
// fail, the rest are reported without being sent. A success closes the
// webhook's circuit breaker.
func (f *Forwarder) Redeliver(ctx context.Context, id string, eventIDs []string) (RedeliverResult, error) {
	w, ok := f.regs.Get(id)
	if !ok {
		return RedeliverResult{}, dwebhook.ErrNotFound
	}
	parked, _, err := f.park.list(ctx, id, MaxRedeliver)
	if err != nil {
		return RedeliverResult{}, err
	}
	res := RedeliverResult{Redelivered: []string{}, Failed: []RedeliveryError{}, NotFound: []string{}}
	if len(eventIDs) > 0 {
		byID := map[string]Parked{}
		for _, p := range parked {
			byID[p.EventID] = p
		}
		parked = parked[:0]
		seen := map[string]bool{}
		for _, e := range eventIDs {
			p, ok := byID[e]
			switch {
			case seen[e]:
			case !ok:
				res.NotFound = append(res.NotFound, e)
			default:
				parked = append(parked, p)
			}
			seen[e] = true
		}
	}
	// A receiver that is still down would make this call wait for every
	// timeout: after giveUp failures and no success, the rest is not sent.
	giveUp := max(f.opts.BreakerAfter, f.opts.PerWebhook)
	var mu sync.Mutex
	failures, successes := 0, 0
	outcome := make([]error, len(parked))
	slots := make(chan struct{}, f.opts.PerWebhook)
	var wg sync.WaitGroup
	for i, p := range parked {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			mu.Lock()
			hopeless := successes == 0 && failures >= giveUp
			mu.Unlock()
			if hopeless {
				outcome[i] = fmt.Errorf("not sent: the first %d redeliveries failed", giveUp)
				return
			}
			err := f.redeliverOne(ctx, w, p)
			mu.Lock()
			if err == nil {
				successes++
			} else {
				failures++
			}
			mu.Unlock()
			outcome[i] = err
		}()
	}
	wg.Wait()
	for i, p := range parked {
		if outcome[i] == nil {
			res.Redelivered = append(res.Redelivered, p.EventID)
		} else {
			res.Failed = append(res.Failed, RedeliveryError{EventID: p.EventID, Error: outcome[i].Error()})
		}
	}
	if len(res.Redelivered) > 0 {
		f.resetLane(id)
	}
	f.log.Info("webhook redelivery", "webhook", id, "redelivered", len(res.Redelivered), "failed", len(res.Failed), "not_found", len(res.NotFound))
	return res, nil
}

func (f *Forwarder) redeliverOne(ctx context.Context, w projections.Webhook, p Parked) error {
	p.Attempts++
	if err := f.post(ctx, w, p.EventID, p.Event, p.Attempts); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the caller went away: not the webhook's failure
		}
		p.LastError = err.Error()
		if perr := f.park.put(ctx, p); perr != nil {
			f.log.Error("webhook: update parked delivery", "webhook", w.ID, "event_id", p.EventID, "err", perr)
		}
		return err
	}
	f.opts.Metrics.WebhookDelivery.WithLabelValues(ResultDelivered).Inc()
	return f.park.remove(ctx, p)
}

// Purge drops every parked delivery of a webhook (after it was deleted).
func (f *Forwarder) Purge(ctx context.Context, id string) error {
	if !dwebhook.ValidID(id) {
		return domain.Invalid("webhook id")
	}
	return f.park.purge(ctx, id)
}
