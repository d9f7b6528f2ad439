package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/projections"
)

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
	stream := msg.Metadata.Get(MetaStream)
	seq, _ := strconv.ParseUint(msg.Metadata.Get(MetaSequence), 10, 64)
	if !f.recent.begin(stream, seq) {
		return nil // handed out again by a filter reset: delivered already
	}
	err := f.forwardOnce(msg, stream, seq)
	f.recent.finish(stream, seq, err == nil)
	return err
}

func (f *Forwarder) forwardOnce(msg *message.Message, stream string, seq uint64) error {
	ctx := msg.Context()
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
