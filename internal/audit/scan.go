// Package audit makes Bindery's history trustworthy and usable: it queries
// the two event streams with filters (constant memory, stream order), seals
// them with signed checkpoints that chain, verifies the hash chains and the
// checkpoints, and replays the streams into fresh views to compare them with
// a live server's.
package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// cursor reads one stream in sequence order over a snapshot range
// (after, end], through an ephemeral pull consumer that acks nothing. The
// client asks for a bounded batch at a time, so memory stays flat however
// long the range is and however slowly the caller goes (a push consumer
// overruns a slow reader's pending limit and has to start over).
type cursor struct {
	stream    string
	js        jetstream.JetStream
	cons      jetstream.Consumer
	it        jetstream.MessagesContext
	ctx       context.Context
	end       uint64
	last      uint64 // sequence of the last message returned (or the start)
	exhausted bool   // nothing after last up to end
}

// batch is how many messages a cursor keeps in flight.
const batch = 1024

// openCursor starts reading stream (a JetStream name) after sequence after,
// up to end inclusive, keeping only messages matching filters (all when
// empty).
func openCursor(ctx context.Context, js jetstream.JetStream, stream string, filters []string, after, end uint64) (*cursor, error) {
	c := &cursor{stream: stream, js: js, ctx: ctx, end: end, last: after}
	if end <= after {
		c.exhausted = true
		return c, nil
	}
	cfg := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       after + 1,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	}
	if after == 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverAllPolicy, 0
	}
	switch len(filters) {
	case 0:
	case 1:
		cfg.FilterSubject = filters[0]
	default:
		cfg.FilterSubjects = filters
	}
	cons, err := js.CreateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("audit: read %s: %w", stream, err)
	}
	c.cons = cons
	// A filter may match nothing: then no message will ever come.
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		c.finish()
		return c, nil
	}
	if c.it, err = cons.Messages(jetstream.PullMaxMessages(batch)); err != nil {
		c.close()
		return nil, fmt.Errorf("audit: read %s: %w", stream, err)
	}
	return c, nil
}

// next returns the next message in range, or nil when the range is done.
func (c *cursor) next() (*nats.Msg, uint64, error) {
	if c.exhausted {
		return nil, 0, nil
	}
	m, err := c.it.Next(jetstream.NextContext(c.ctx))
	if err != nil {
		if ce := c.ctx.Err(); ce != nil {
			err = ce
		}
		return nil, 0, fmt.Errorf("audit: read %s: %w", c.stream, err)
	}
	md, err := m.Metadata()
	if err != nil {
		return nil, 0, fmt.Errorf("audit: read %s: %w", c.stream, err)
	}
	seq := md.Sequence.Stream
	if seq > c.end {
		c.finish()
		return nil, 0, nil
	}
	c.last = seq
	if seq == c.end || md.NumPending == 0 {
		c.finish()
	}
	return &nats.Msg{Subject: m.Subject(), Data: m.Data()}, seq, nil
}

// position is how far the scan has reached: every message up to it was
// returned or did not match the filters.
func (c *cursor) position() uint64 {
	if c.exhausted {
		return max(c.end, c.last)
	}
	return c.last
}

// before is the position to resume from when the message at seq was read
// but not used (a merge stopped with it in hand).
func before(seq uint64) uint64 { return seq - 1 }

// done reports whether the range has no more messages.
func (c *cursor) done() bool { return c.exhausted }

func (c *cursor) finish() {
	c.exhausted = true
	c.close()
}

// close stops the pull and removes the consumer (its inactivity threshold
// removes it too, should this fail).
func (c *cursor) close() {
	if c.it != nil {
		c.it.Stop()
		c.it = nil
	}
	if c.cons != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.js.DeleteConsumer(ctx, c.stream, c.cons.CachedInfo().Name)
		cancel()
		c.cons = nil
	}
}
