package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/sony/gobreaker"

	"github.com/bindery/bindery/projections"
)

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
