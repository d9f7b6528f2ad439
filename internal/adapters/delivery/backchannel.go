package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
)

// BackChannelDurable is the name of the back-channel logout consumer on the
// auth log.
const BackChannelDurable = "bindery-backchannel"

// backChannelSubject is the subject of every browser_session_ended event.
var backChannelSubject = events.SubjectPrefix + events.AggregateBrowserSession + ".*." + events.BrowserSessionEndedName

// Results counted by Metrics.BackChannelLogouts.
const (
	BackChannelDelivered = "delivered"
	BackChannelRetried   = "retried"
	BackChannelFailed    = "failed"
)

// Logout is one back-channel logout to POST: the client's
// backchannel_logout_uri and its signed logout token.
type Logout struct {
	ClientID, URI, Token string
}

// LogoutTokens makes the logouts of an ended browser session (the OpenID
// Provider's, which signs them); an error nacks the event for later.
type LogoutTokens func(ctx context.Context, ended events.BrowserSessionEnded) ([]Logout, error)

// BackChannel delivers OpenID back-channel logout tokens: a Watermill
// router fed by a durable JetStream consumer (bindery-backchannel) on the
// auth log's browser_session_ended events POSTs each client's logout token
// as application/x-www-form-urlencoded logout_token=…, retrying with the
// same exponential backoff as webhooks (Options.Attempts, Backoff). One
// consumer shared by every replica, so each logout is sent once (at least
// once: a crash mid-delivery sends it again, and receivers deduplicate by
// the token's jti). A logout that fails every attempt is logged and
// counted, not parked: the token expires within minutes anyway.
type BackChannel struct {
	js     jetstream.JetStream
	tokens LogoutTokens
	waitFn func(context.Context, events.Position) error
	opts   Options
	log    *slog.Logger

	router *message.Router
	sub    *Subscriber
	done   chan struct{}
	close  sync.Once
}

// NewBackChannel returns the back-channel logout sender. wait blocks until
// the views (the OIDC clients) reflect a store position.
func NewBackChannel(js jetstream.JetStream, tokens LogoutTokens, wait func(context.Context, events.Position) error, opts Options) (*BackChannel, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &BackChannel{js: js, tokens: tokens, waitFn: wait, opts: opts, log: opts.Logger}, nil
}

// Start creates the durable consumer and runs the router until Close.
func (b *BackChannel) Start(ctx context.Context) error {
	sub, err := NewSubscriber(b.js, SubscriberConfig{
		Durable: BackChannelDurable, FilterSubject: backChannelSubject,
		AckWait: b.opts.AckWait, NakDelay: b.opts.NakDelay, MaxInFlight: b.opts.MaxInFlight, Logger: b.log,
	})
	if err != nil {
		return err
	}
	if _, err := sub.Consumer(ctx, bjs.AuthLogStream); err != nil {
		return err
	}
	router, done, err := runRouter(ctx, b.log, "back-channel logout", func(r *message.Router) {
		r.AddConsumerHandler("SendBackChannelLogouts", bjs.AuthLogStream, sub, b.handle)
	})
	if err != nil {
		return err
	}
	b.router, b.sub, b.done = router, sub, done
	return nil
}

// Close stops the router; logouts in progress go back to JetStream.
func (b *BackChannel) Close() error {
	var err error
	b.close.Do(func() {
		if b.router == nil {
			return
		}
		err = b.router.Close()
		<-b.done
		if cerr := b.sub.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	})
	return err
}

// handle is the router handler: one ended browser session, its logouts
// POSTed concurrently, each through the retry middleware.
func (b *BackChannel) handle(msg *message.Message) error {
	ctx := msg.Context()
	seq, _ := strconv.ParseUint(msg.Metadata.Get(MetaSequence), 10, 64)
	rec, err := events.DecodeRecord(events.Catalogue(), bjs.AuthLogStream, seq, msg.Metadata.Get(MetaSubject), msg.Payload)
	ended, ok := rec.Event.(events.BrowserSessionEnded)
	if err != nil || !ok {
		b.log.Error("back-channel logout: undeliverable message skipped", "seq", seq, "err", err)
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, b.opts.ViewWait)
	err = b.waitFn(wctx, events.Position{AuthLog: seq})
	cancel()
	if err != nil {
		return fmt.Errorf("back-channel logout: views did not reach authlog %d: %w", seq, err)
	}
	logouts, err := b.tokens(ctx, ended)
	if err != nil {
		return fmt.Errorf("back-channel logout: tokens: %w", err)
	}
	errs := make([]error, len(logouts))
	var wg sync.WaitGroup
	for i, l := range logouts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.deliver(ctx, ended.SessionID, l)
		}()
	}
	wg.Wait()
	return errors.Join(errs...) // only a shutdown: the event comes back
}

// deliver POSTs one logout until it is taken or the attempts are spent.
func (b *BackChannel) deliver(ctx context.Context, sid string, l Logout) error {
	attempt := 0
	h := middleware.Retry{
		MaxRetries:          b.opts.Attempts - 1,
		InitialInterval:     b.opts.Backoff,
		MaxInterval:         b.opts.MaxBackoff,
		Multiplier:          2,
		RandomizationFactor: b.opts.Jitter,
		ShouldRetry:         func(p middleware.RetryParams) bool { return !errors.Is(p.Err, context.Canceled) },
	}.Middleware(func(m *message.Message) ([]*message.Message, error) {
		attempt++
		if attempt > 1 {
			b.opts.Metrics.BackChannelLogouts.WithLabelValues(BackChannelRetried).Inc()
		}
		err := b.post(m.Context(), l)
		if err != nil && m.Context().Err() == nil {
			b.log.Info("back-channel logout failed", "client_id", l.ClientID, "sid", sid, "attempt", attempt, "err", err)
		}
		return nil, err
	})
	m := message.NewMessage(watermill.NewUUID(), nil)
	m.SetContext(ctx)
	_, err := h(m)
	switch {
	case err == nil:
		b.opts.Metrics.BackChannelLogouts.WithLabelValues(BackChannelDelivered).Inc()
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	b.opts.Metrics.BackChannelLogouts.WithLabelValues(BackChannelFailed).Inc()
	b.log.Warn("back-channel logout given up", "client_id", l.ClientID, "sid", sid, "attempts", attempt, "err", err)
	return nil
}

// post sends the logout token (Back-Channel Logout 1.0 §2.5). Its errors
// never hold the URI or what the receiver answered.
func (b *BackChannel) post(ctx context.Context, l Logout) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	body := url.Values{"logout_token": {l.Token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URI, strings.NewReader(body))
	if err != nil {
		return errors.New("the backchannel_logout_uri is not usable")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Bindery-BackChannel-Logout/1")
	resp, err := b.opts.Client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("no answer within %s", b.opts.Timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
