package jetstream

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/bindery/bindery/events"
)

var _ events.Pipeliner = (*Store)(nil)

// AppendPipelined implements events.Pipeliner: when every group is one
// message (no claim, one event), the messages are published one after
// another on the connection, each with its own reply subject, and the
// acknowledgements awaited together. The server handles them in that
// order, so a group is stored before the next one is looked at; each
// keeps its own expected-sequence check. Groups that need an atomic batch
// are appended one after another instead.
func (s *Store) AppendPipelined(ctx context.Context, meta events.Meta, groups ...[]events.Change) ([][]events.Record, []error) {
	out := make([][]events.Record, len(groups))
	errs := make([]error, len(groups))
	recs := make([][]events.Record, len(groups))
	msgs := make([]outMsg, len(groups))
	for i, g := range groups {
		r, m, err := s.build(ctx, meta, g)
		if err != nil || len(m) != 1 {
			return s.appendEach(ctx, meta, groups)
		}
		recs[i], msgs[i] = r, m[0]
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	type answer struct {
		i   int
		msg *nats.Msg
	}
	inbox := s.nc.NewInbox()
	answers := make(chan answer, len(groups))
	sub, err := s.nc.Subscribe(inbox+".*", func(m *nats.Msg) {
		i, err := strconv.Atoi(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:])
		if err == nil && i >= 0 && i < len(groups) {
			answers <- answer{i, m}
		}
	})
	if err != nil {
		return fill(out, errs, fmt.Errorf("jetstream: publish: %w", err))
	}
	defer func() { _ = sub.Unsubscribe() }()
	for i, om := range msgs {
		m := &nats.Msg{Subject: om.subject, Reply: inbox + "." + strconv.Itoa(i), Header: om.header, Data: om.data}
		if err := s.nc.PublishMsg(m); err != nil {
			// Those sent before may be stored: their answers are awaited.
			for j := i; j < len(msgs); j++ {
				errs[j] = fmt.Errorf("jetstream: publish: %w", err)
			}
			msgs = msgs[:i]
			break
		}
	}
	for got := 0; got < len(msgs); got++ {
		select {
		case a := <-answers:
			if len(a.msg.Data) == 0 && a.msg.Header.Get("Status") == "503" {
				errs[a.i] = fmt.Errorf("jetstream: publish: %w", nats.ErrNoResponders)
				continue
			}
			seq, err := parseAck(a.msg.Data)
			if err != nil {
				errs[a.i] = err
				continue
			}
			out[a.i] = numbered(recs[a.i], msgs[a.i:a.i+1], seq)
		case <-ctx.Done():
			for i := range msgs {
				if out[i] == nil && errs[i] == nil {
					errs[i] = fmt.Errorf("jetstream: publish: %w", ctx.Err())
				}
			}
			return out, errs
		}
	}
	return out, errs
}

// appendEach appends the groups one after another.
func (s *Store) appendEach(ctx context.Context, meta events.Meta, groups [][]events.Change) ([][]events.Record, []error) {
	out := make([][]events.Record, len(groups))
	errs := make([]error, len(groups))
	for i, g := range groups {
		out[i], errs[i] = s.Append(ctx, meta, g...)
	}
	return out, errs
}

func fill(out [][]events.Record, errs []error, err error) ([][]events.Record, []error) {
	for i := range errs {
		errs[i] = err
	}
	return out, errs
}
