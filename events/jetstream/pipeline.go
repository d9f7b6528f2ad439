package jetstream

import (
	"context"
	"sync"

	"github.com/bindery/bindery/events"
)

var _ events.Pipeliner = (*Store)(nil)

// AppendPipelined implements events.Pipeliner: when every group is one
// message (no claim, one event), the messages are published at once, each
// a request on the connection's shared reply subscription, and the
// acknowledgements awaited together; each keeps its own expected-sequence
// check. Groups that need an atomic batch are appended one after another.
func (s *Store) AppendPipelined(ctx context.Context, meta events.Meta, groups ...[]events.Change) ([][]events.Record, []error) {
	out := make([][]events.Record, len(groups))
	errs := make([]error, len(groups))
	recs := make([][]events.Record, len(groups))
	msgs := make([][]outMsg, len(groups))
	for i, g := range groups {
		r, m, err := s.build(ctx, meta, g)
		if err != nil || len(m) != 1 {
			return s.appendEach(ctx, meta, groups)
		}
		recs[i], msgs[i] = r, m
	}
	var wg sync.WaitGroup
	for i := range groups[1:] {
		wg.Go(func() { out[i+1], errs[i+1] = s.sendOne(ctx, recs[i+1], msgs[i+1]) })
	}
	out[0], errs[0] = s.sendOne(ctx, recs[0], msgs[0])
	wg.Wait()
	return out, errs
}

func (s *Store) sendOne(ctx context.Context, recs []events.Record, msgs []outMsg) ([]events.Record, error) {
	last, err := s.publish(ctx, msgs)
	if err != nil {
		return nil, err
	}
	return numbered(recs, msgs, last), nil
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
