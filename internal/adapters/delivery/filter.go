package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/projections"
)

// The forwarder's consumers are filtered by event type: the server hands
// out only events some webhook wants (an event's subject ends with its
// name), and nothing when no webhook is registered, so that logins do not
// pay for a delivery, a decode and an ack per event that nobody wants.
//
// When the registrations come to want a type the filter lacked, events of
// that type may have gone by unseen since the webhook asked for it; the
// consumer is then reset to the sequence of that registration (or to its
// ack floor, if earlier), so they are delivered. The reset also hands out
// again what the old filter let through after that point: deliveries are
// at least once, and receivers deduplicate by Idempotency-Key.

// noWebhook is a filter subject that no event has (event names are
// snake_case): the filter of a consumer when nobody wants anything.
const noWebhook = events.SubjectPrefix + "*.*.-none-"

// allEvents is the filter of a consumer when some webhook wants every type.
const allEvents = events.SubjectPrefix + ">"

// filterSubjects are the subjects of the event types the webhooks want.
func filterSubjects(ws []projections.Webhook) []string {
	var out []string
	for _, w := range ws {
		for _, e := range w.Events {
			if e == "*" {
				return []string{allEvents}
			}
			out = append(out, events.SubjectPrefix+"*.*."+e)
		}
	}
	if len(out) == 0 {
		return []string{noWebhook}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// filterOf is a consumer's filter subjects.
func filterOf(c jetstream.ConsumerConfig) []string {
	if c.FilterSubject != "" {
		return []string{c.FilterSubject}
	}
	return c.FilterSubjects
}

func (f *Forwarder) consumerConfig(start uint64, filter []string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        Durable,
		Description:    "Bindery webhook forwarder",
		FilterSubjects: filter,
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        f.opts.AckWait,
		MaxDeliver:     -1, // the forwarder parks what fails; the server never drops
		MaxAckPending:  f.opts.MaxInFlight,
	}
}

// ensureConsumer creates stream's consumer with the filter (starting with
// the next event stored), replaces one made before filters (which cannot
// be reset) from its ack floor on, or brings an existing one's filter up
// to date.
func (f *Forwarder) ensureConsumer(ctx context.Context, stream string, filter []string) error {
	cons, err := f.js.Consumer(ctx, stream, Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		st, err := f.js.Stream(ctx, stream)
		if err != nil {
			return fmt.Errorf("webhook: stream %s: %w", stream, err)
		}
		_, err = f.js.CreateConsumer(ctx, stream, f.consumerConfig(st.CachedInfo().State.LastSeq+1, filter))
		if errors.Is(err, jetstream.ErrConsumerExists) { // another replica made it first
			return f.refilter(ctx, stream, filter)
		}
		if err != nil {
			return fmt.Errorf("webhook: consumer %s on %s: %w", Durable, stream, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("webhook: consumer %s on %s: %w", Durable, stream, err)
	}
	info := cons.CachedInfo()
	if info.Config.DeliverPolicy != jetstream.DeliverByStartSequencePolicy {
		if err := f.js.DeleteConsumer(ctx, stream, Durable); err != nil {
			return fmt.Errorf("webhook: replacing consumer %s on %s: %w", Durable, stream, err)
		}
		_, err := f.js.CreateConsumer(ctx, stream, f.consumerConfig(info.AckFloor.Stream+1, filter))
		return err
	}
	return f.refilter(ctx, stream, filter)
}

// refilter sets stream's consumer filter and, when it wants a type it did
// not before, resets the consumer to the earliest event of such a type
// that a webhook may still be owed.
func (f *Forwarder) refilter(ctx context.Context, stream string, filter []string) error {
	cons, err := f.js.Consumer(ctx, stream, Durable)
	if err != nil {
		return err
	}
	cfg := cons.CachedInfo().Config
	old := filterOf(cfg)
	if slices.Equal(old, filter) {
		return nil
	}
	cfg.FilterSubject, cfg.FilterSubjects = "", filter
	cons, err = f.js.UpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("webhook: filter of %s on %s: %w", Durable, stream, err)
	}
	widened := slices.Contains(filter, allEvents) && !slices.Contains(old, allEvents)
	for _, s := range filter {
		widened = widened || (!slices.Contains(old, s) && !slices.Contains(old, allEvents))
	}
	if !widened {
		return nil
	}
	// The server does not say how far it looked past the last event it
	// handed out (what the old filter skipped), so the consumer goes back
	// in any case; the ack floor bounds it, since a reset forgets what is
	// pending. What comes again is delivered once (recent.go).
	info := cons.CachedInfo()
	from, err := f.owedFrom(ctx, stream, old)
	if err != nil {
		return err
	}
	from = max(min(from, info.AckFloor.Stream+1), cfg.OptStartSeq)
	if _, err := f.js.ResetConsumerToSequence(ctx, stream, Durable, from); err != nil {
		return fmt.Errorf("webhook: resetting %s on %s to %d: %w", Durable, stream, from, err)
	}
	f.log.Info("webhook consumer reset for a newly wanted event type", "stream", stream, "seq", from)
	return nil
}

// owedFrom is the first sequence of stream that a webhook wanting a type
// outside the old filter may be owed: just after its last change in the
// history; in the auth log (another sequence), the first event stored
// from a little before that change's time on.
func (f *Forwarder) owedFrom(ctx context.Context, stream string, old []string) (uint64, error) {
	var seq uint64
	var at time.Time
	for _, w := range f.regs.List() {
		if wantedBy(old, w) {
			continue
		}
		if seq == 0 || w.Version+1 < seq {
			seq = w.Version + 1
		}
		if at.IsZero() || w.UpdatedAt.Before(at) {
			at = w.UpdatedAt
		}
	}
	if seq == 0 {
		return ^uint64(0), nil
	}
	if stream != bjs.AuthLogStream {
		return seq, nil
	}
	return f.firstSince(ctx, stream, at.Add(-2*time.Second)) // clocks of other replicas
}

// wantedBy reports whether the old filter already covered every type w wants.
func wantedBy(old []string, w projections.Webhook) bool {
	if slices.Contains(old, allEvents) {
		return true
	}
	for _, s := range filterSubjects([]projections.Webhook{w}) {
		if !slices.Contains(old, s) {
			return false
		}
	}
	return true
}

// firstSince is the sequence of the first message stored at or after t
// (the stream's next sequence when there is none).
func (f *Forwarder) firstSince(ctx context.Context, stream string, t time.Time) (uint64, error) {
	req, _ := json.Marshal(map[string]any{"start_time": t.UTC()})
	resp, err := f.js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return 0, fmt.Errorf("webhook: first event of %s since %s: %w", stream, t, err)
	}
	var ans struct {
		Message *struct {
			Seq uint64 `json:"seq"`
		} `json:"message"`
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &ans); err != nil {
		return 0, err
	}
	if ans.Message != nil {
		return ans.Message.Seq, nil
	}
	return ^uint64(0), nil // nothing since t: nothing owed
}

// watchRegistrations keeps the consumers' filters up to the registrations
// until ctx ends.
func (f *Forwarder) watchRegistrations(ctx context.Context, current []string) {
	t := time.NewTicker(f.opts.FilterEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		want := filterSubjects(f.regs.List())
		if slices.Equal(want, current) {
			continue
		}
		ok := true
		for _, st := range []string{bjs.HistoryStream, bjs.AuthLogStream} {
			if err := f.refilter(ctx, st, want); err != nil && ctx.Err() == nil {
				f.log.Warn("webhook consumer filter", "stream", st, "err", err)
				ok = false
			}
		}
		if ok {
			current = want
		}
	}
}
