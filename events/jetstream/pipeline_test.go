package jetstream_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

// Pipelined groups keep their own checks and outcomes: a stale one fails
// with ErrConflict while the next is stored; a group with a claim still
// goes through (one by one).
func TestAppendPipelined(t *testing.T) {
	ns := natstest.Server(t, "")
	s := openStore(t, ns.ClientURL(), 1)
	ctx := context.Background()
	a := events.Aggregate{Type: events.AggregateLogin, ID: uuid.NewString()}
	b := events.Aggregate{Type: events.AggregateSession, ID: uuid.NewString()}

	out, errs := s.AppendPipelined(ctx, meta(),
		[]events.Change{{Aggregate: a, Events: []events.Event{counted{By: 1}}}},
		[]events.Change{{Aggregate: b, Events: []events.Event{counted{By: 2}}}})
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errors: %v", errs)
	}
	if len(out[0]) != 1 || len(out[1]) != 1 || out[0][0].Sequence == out[1][0].Sequence {
		t.Fatalf("records missing: %+v", out)
	}
	for i, agg := range []events.Aggregate{a, b} {
		recs, err := s.Load(ctx, agg, 0)
		if err != nil || len(recs) != 1 || recs[0].Sequence != out[i][0].Sequence {
			t.Fatalf("%s: stored %+v %v, answered %+v", agg, recs, err, out[i])
		}
	}

	// a again as if new: stale. b again on its version: stored.
	c := events.Aggregate{Type: events.AggregateSession, ID: uuid.NewString()}
	out, errs = s.AppendPipelined(ctx, meta(),
		[]events.Change{{Aggregate: a, Events: []events.Event{counted{By: 3}}}},
		[]events.Change{{Aggregate: c, Events: []events.Event{counted{By: 4}}}})
	if !errors.Is(errs[0], events.ErrConflict) || out[0] != nil {
		t.Fatalf("stale group: %v %+v", errs[0], out[0])
	}
	if errs[1] != nil || len(out[1]) != 1 {
		t.Fatalf("fresh group beside a stale one: %v %+v", errs[1], out[1])
	}
	if recs, _ := s.Load(ctx, a, 0); len(recs) != 1 {
		t.Fatalf("the stale group was stored: %d events", len(recs))
	}

	// A group that claims a value needs an atomic batch.
	acc := events.Aggregate{Type: events.AggregateAccount, ID: uuid.NewString()}
	d := events.Aggregate{Type: events.AggregateAccount, ID: uuid.NewString()}
	out, errs = s.AppendPipelined(ctx, meta(),
		[]events.Change{{Aggregate: acc, Events: []events.Event{named{Owner: acc.ID, Name: "pip"}}}},
		[]events.Change{{Aggregate: d, Events: []events.Event{counted{By: 5}}}})
	if errs[0] != nil || errs[1] != nil || len(out[0]) != 1 || len(out[1]) != 1 {
		t.Fatalf("with a claim: %v %+v", errs, out)
	}
	if owner, err := s.Owner(ctx, "username", "pip"); err != nil || owner != acc.ID {
		t.Fatalf("claim: %q %v", owner, err)
	}
}
