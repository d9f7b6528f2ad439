package relay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	fastjson "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
)

// Headers of a copy, besides Nats-Msg-Id (the CloudEvent id, so that a
// copy published twice is stored once).
const (
	// SourceHeader names the event the copy is of: "<stream>:<sequence>".
	SourceHeader = "Bindery-Source"
)

// run pulls one event stream's events in batches, in order, and
// acknowledges a batch once every copy (and index entry) of it is stored.
// A replica that is not the pinned one gets nothing from its pulls until
// the pinned one goes quiet for PinnedTTL.
func (r *Relay) run(kind string, c jetstream.Consumer) {
	backoff := 100 * time.Millisecond
	for r.ctx.Err() == nil {
		batch, err := c.Fetch(r.opts.Batch, jetstream.FetchMaxWait(r.opts.FetchWait), jetstream.FetchPriorityGroup(priorityGroup))
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			r.opts.Logger.Warn("public relay: pull", "stream", kind, "err", err)
			r.pause(backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && r.ctx.Err() == nil &&
			!errors.Is(err, jetstream.ErrPinIDMismatch) {
			r.opts.Logger.Debug("public relay: pull ended", "stream", kind, "err", err)
		}
		if len(msgs) == 0 {
			continue
		}
		done, err := r.relayBatch(r.ctx, kind, msgs)
		if done > 0 {
			// AckAll: acknowledging the last one relayed acknowledges every
			// one before it.
			if aerr := msgs[done-1].DoubleAck(r.ctx); aerr != nil && r.ctx.Err() == nil {
				r.opts.Logger.Warn("public relay: ack", "stream", kind, "err", aerr)
			}
		}
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			r.opts.Logger.Warn("public relay: event not relayed, retried", "stream", kind, "err", err)
			for _, m := range msgs[done:] {
				_ = m.NakWithDelay(backoff)
			}
			r.pause(backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

func (r *Relay) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.ctx.Done():
	case <-t.C:
	}
}

// pending is one copy published and not yet acknowledged by the stream.
type pending struct {
	ack     jetstream.PubAckFuture
	account string // the account the copy concerns, when it is not its own aggregate's
	shared  bool   // of an aggregate many accounts share (an org): indexed by sequence
}

// relayBatch republishes msgs in order and answers how many of them are
// stored (with their index entries), from the first; on an error the rest
// are retried. An account_erased waits for the copies before it, then
// purges.
func (r *Relay) relayBatch(ctx context.Context, kind string, msgs []jetstream.Msg) (int, error) {
	var inflight []pending
	done := 0
	touched := map[string]bool{}
	flush := func(upTo int) error {
		if err := r.settle(ctx, inflight); err != nil {
			return err
		}
		inflight = inflight[:0]
		done = upTo
		return nil
	}
	for i, m := range msgs {
		ev, err := r.parse(m)
		if err != nil {
			return done, err
		}
		if ev.name == events.AccountErasedName && ev.agg.Type == events.AggregateAccount {
			if err := flush(i); err != nil {
				return done, err
			}
			if err := r.erase(ctx, ev, m); err != nil {
				return done, err
			}
			done = i + 1
			continue
		}
		if ev.account != "" && r.erased.has(ev.account) {
			continue // nothing of an erased person is copied any more
		}
		p, err := r.publish(ctx, ev, m)
		if err != nil {
			return done, err
		}
		inflight = append(inflight, p)
		if ev.account != "" {
			touched[ev.account] = true
		}
	}
	if err := flush(len(msgs)); err != nil {
		return done, err
	}
	// An account erased while this batch was relayed (by another stream's
	// relay, maybe on another replica) is purged again, so that a copy
	// that slipped past the check above does not stay.
	for acct := range touched {
		if r.erased.has(acct) {
			if err := r.purgeLinked(ctx, acct); err != nil {
				return done, err
			}
		}
	}
	return done, nil
}

// event is what the relay reads of one stored event.
type event struct {
	subject string
	agg     events.Aggregate
	name    string
	account string // the account it concerns ("" for none)
	raw     []byte
	msgID   string
	source  string
}

func (r *Relay) parse(m jetstream.Msg) (event, error) {
	ev := event{subject: m.Subject(), raw: m.Data()}
	ev.agg, ev.name = events.ParseSubject(ev.subject)
	if ev.agg.Type == "" {
		return ev, fmt.Errorf("relay: not an event subject: %s", ev.subject)
	}
	meta, err := m.Metadata()
	if err != nil {
		return ev, err
	}
	ev.source = meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
	ev.msgID = m.Headers().Get(jetstream.MsgIDHeader)
	if ev.msgID == "" {
		ev.msgID = ev.source
	}
	if ev.agg.Type == events.AggregateAccount {
		ev.account = ev.agg.ID
		return ev, nil
	}
	var env struct {
		Data struct {
			AccountID string `json:"account_id"`
		} `json:"data"`
	}
	if err := fastjson.Unmarshal(ev.raw, &env); err == nil {
		ev.account = env.Data.AccountID
	}
	return ev, nil
}

// publish sends one opened copy and, for an aggregate of one account, the
// index entry that lets its erasure find it.
func (r *Relay) publish(ctx context.Context, ev event, m jetstream.Msg) (pending, error) {
	body, err := events.OpenEnvelope(r.opts.Sealer, ev.raw, events.ErasedNull)
	if err != nil {
		return pending{}, fmt.Errorf("relay: open %s: %w", ev.source, err)
	}
	msg := &nats.Msg{Subject: PublicSubject(ev.subject), Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, ev.msgID)
	msg.Header.Set(SourceHeader, ev.source)
	if ct := m.Headers().Get("Content-Type"); ct != "" {
		msg.Header.Set("Content-Type", ct)
	}
	fut, err := r.js.PublishMsgAsync(msg)
	if err != nil {
		return pending{}, fmt.Errorf("relay: publish %s: %w", ev.source, err)
	}
	p := pending{ack: fut}
	if ev.account == "" || ev.agg.Type == events.AggregateAccount {
		return p, nil
	}
	p.account = ev.account
	if sharedAggregates[ev.agg.Type] {
		p.shared = true
		return p, nil
	}
	if err := r.link(ctx, ev.account, ev.agg); err != nil {
		return pending{}, err
	}
	return p, nil
}

// sharedAggregates are the aggregate types whose events concern many
// accounts: an erasure removes the copies that name the account one by
// one, never the aggregate's whole subject.
var sharedAggregates = map[string]bool{
	events.AggregateOrg: true, events.AggregateRole: true, events.AggregateApp: true,
	events.AggregateOIDCClient: true, events.AggregateWebhook: true,
}

// settle waits for the copies published and indexes those of shared
// aggregates by the sequence they got.
func (r *Relay) settle(ctx context.Context, inflight []pending) error {
	var firstErr error
	for _, p := range inflight {
		select {
		case ack := <-p.ack.Ok():
			if p.shared {
				if err := r.linkMessage(ctx, p.account, ack.Sequence); err != nil && firstErr == nil {
					firstErr = err
				}
			}
		case err := <-p.ack.Err():
			if firstErr == nil {
				firstErr = fmt.Errorf("relay: publish %s: %w", p.ack.Msg().Subject, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return firstErr
}

// erase handles an account_erased: nothing more of the account is copied,
// its copies are purged, and the account_erased itself is published (it
// holds no personal value), the one message of the account left.
func (r *Relay) erase(ctx context.Context, ev event, m jetstream.Msg) error {
	if err := r.markErased(ctx, ev.account); err != nil {
		return err
	}
	p, err := r.publish(ctx, ev, m)
	if err != nil {
		return err
	}
	var seq uint64
	select {
	case ack := <-p.ack.Ok():
		seq = ack.Sequence // a duplicate's ack names the copy already stored
	case err := <-p.ack.Err():
		return fmt.Errorf("relay: publish %s: %w", ev.source, err)
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := r.Purge(ctx, ev.account, seq); err != nil {
		return err
	}
	r.opts.Logger.Info("public relay: erased account purged", "account", ev.account)
	return nil
}
