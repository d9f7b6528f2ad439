// Package audit makes Bindery's history trustworthy and usable: it queries
// the two event streams with filters (constant memory, stream order), seals
// them with signed checkpoints that chain, verifies the hash chains and the
// checkpoints, and replays the streams into fresh views to compare them with
// a live server's.
package audit

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// cursor reads one stream in sequence order over a snapshot range
// (after, end], through an ordered push consumer (flow-controlled, so the
// client buffers a bounded window however long the range is; it is the
// fastest way JetStream hands out a stream in order).
type cursor struct {
	stream    string
	sub       *nats.Subscription
	ctx       context.Context
	end       uint64
	last      uint64 // sequence of the last message returned (or the start)
	exhausted bool   // nothing after last up to end
}

// openCursor starts reading stream (a JetStream name) after sequence after,
// up to end inclusive, keeping only messages matching filters (all when
// empty).
func openCursor(ctx context.Context, js jetstream.JetStream, stream string, filters []string, after, end uint64) (*cursor, error) {
	c := &cursor{stream: stream, ctx: ctx, end: end, last: after}
	if end <= after {
		c.exhausted = true
		return c, nil
	}
	legacy, err := js.Conn().JetStream()
	if err != nil {
		return nil, err
	}
	opts := []nats.SubOpt{nats.BindStream(stream), nats.OrderedConsumer(), nats.StartSequence(after + 1)}
	if after == 0 {
		opts[2] = nats.DeliverAll()
	}
	subject := ""
	switch len(filters) {
	case 0:
	case 1:
		subject = filters[0]
	default:
		opts = append(opts, nats.ConsumerFilterSubjects(filters...))
	}
	sub, err := legacy.SubscribeSync(subject, opts...)
	if err != nil {
		return nil, fmt.Errorf("audit: read %s: %w", stream, err)
	}
	// A filter may match nothing: then no message will ever come. (What
	// was delivered already no longer counts as pending.)
	info, err := sub.ConsumerInfo()
	if err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("audit: read %s: %w", stream, err)
	}
	c.sub = sub
	if info.NumPending == 0 && info.Delivered.Consumer == 0 {
		c.finish()
	}
	return c, nil
}

// next returns the next message in range, or nil when the range is done.
func (c *cursor) next() (*nats.Msg, uint64, error) {
	if c.exhausted {
		return nil, 0, nil
	}
	msg, err := c.sub.NextMsgWithContext(c.ctx)
	if err != nil {
		if ce := c.ctx.Err(); ce != nil {
			err = ce
		}
		return nil, 0, fmt.Errorf("audit: read %s: %w", c.stream, err)
	}
	md, err := msg.Metadata()
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
	return msg, seq, nil
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

// close stops the consumer (an ordered consumer is ephemeral: the server
// removes it).
func (c *cursor) close() {
	if c.sub != nil {
		_ = c.sub.Unsubscribe()
		c.sub = nil
	}
}
