package memstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/events/memstore"
	"github.com/bindery/bindery/events/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T, reg *events.Registry) events.Store { return memstore.New(memstore.WithRegistry(reg)) },
	})
}

// New knows the catalogue: its events are stored and decoded, anything
// else is refused.
func TestNewUsesCatalogue(t *testing.T) {
	s := memstore.New()
	ctx := context.Background()
	agg := events.Aggregate{Type: events.AggregateAccount, ID: uuid.NewString()}
	if _, err := s.Append(ctx, events.Meta{Actor: "test"}, events.Change{Aggregate: agg, Events: []events.Event{events.AccountDisabled{AccountID: agg.ID}}}); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Load(ctx, agg, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("load: %d records (%v)", len(recs), err)
	}
	if e, ok := recs[0].Event.(events.AccountDisabled); !ok || e.AccountID != agg.ID || recs[0].Envelope.Time.IsZero() {
		t.Fatalf("decoded %#v at %v", recs[0].Event, recs[0].Envelope.Time)
	}
	_, err = s.Append(ctx, events.Meta{}, events.Change{Aggregate: agg, Expected: recs[0].Sequence, Events: []events.Event{storetest.Counted{By: 1}}})
	if !errors.Is(err, events.ErrUnregistered) {
		t.Fatalf("a type outside the catalogue: %v", err)
	}
}

// Since lists what was appended after a head, on both streams, in order:
// the "then these events" of a use-case test.
func TestSince(t *testing.T) {
	s := memstore.New(memstore.WithRegistry(storetest.Registry()))
	ctx := context.Background()
	given := events.Aggregate{Type: events.AggregateAccount, ID: "a"}
	if _, err := s.Append(ctx, storetest.Meta(), events.Change{Aggregate: given, Events: []events.Event{storetest.Counted{By: 1}}}); err != nil {
		t.Fatal(err)
	}
	mark, _ := s.Head(ctx)
	login := events.Aggregate{Type: events.AggregateLogin, ID: "l"}
	for _, ch := range []events.Change{
		{Aggregate: login, Events: []events.Event{storetest.Counted{By: 2}}},
		{Aggregate: given, Expected: 1, Events: []events.Event{storetest.Counted{By: 3}}},
	} {
		if _, err := s.Append(ctx, storetest.Meta(), ch); err != nil {
			t.Fatal(err)
		}
	}
	got := s.Since(mark)
	if len(got) != 2 || got[0].Aggregate() != login || got[1].Aggregate() != given ||
		got[0].Event != (storetest.Counted{By: 2}) || got[1].Event != (storetest.Counted{By: 3}) {
		t.Fatalf("since %v: %+v", mark, got)
	}
	if all := s.Since(events.Position{}); len(all) != 3 {
		t.Fatalf("since the start: %d records", len(all))
	}
}

// BeforeAppend can refuse an append, or write first as a concurrent
// writer would; Repository.Update then retries on fresh state.
func TestBeforeAppend(t *testing.T) {
	s := memstore.New(memstore.WithRegistry(storetest.Registry()))
	ctx := context.Background()
	boom := errors.New("boom")
	s.BeforeAppend(func(context.Context, []events.Change) error { return boom })
	agg := events.Aggregate{Type: events.AggregateAccount, ID: "x"}
	if _, err := s.Append(ctx, storetest.Meta(), events.Change{Aggregate: agg, Events: []events.Event{storetest.Counted{By: 1}}}); !errors.Is(err, boom) {
		t.Fatalf("append: %v", err)
	}
	if h, _ := s.Head(ctx); !h.IsZero() {
		t.Fatalf("head %v after a refused append", h)
	}
	raced := false
	s.BeforeAppend(func(ctx context.Context, changes []events.Change) error {
		if raced {
			return nil
		}
		raced = true
		_, err := s.Append(ctx, storetest.Meta(), events.Change{Aggregate: agg, Events: []events.Event{storetest.Counted{By: 10}}})
		return err
	})
	repo := storetest.Counters(s, events.AggregateAccount)
	conflicts := 0
	repo.OnConflict = func() { conflicts++ }
	_, st, err := repo.Update(ctx, agg.ID, storetest.Meta(), storetest.Add(1))
	if err != nil || st.N != 11 || conflicts != 1 {
		t.Fatalf("update: n=%d, %d conflicts (%v); want 11 after one conflict", st.N, conflicts, err)
	}
}

// Given appends after what the aggregate holds, chained; EventsSince is
// what came after a mark.
func TestGivenThen(t *testing.T) {
	s := memstore.New(memstore.WithRegistry(storetest.Registry()))
	agg := events.Aggregate{Type: events.AggregateAccount, ID: "g"}
	if _, err := s.Given(agg, storetest.Counted{By: 1}); err != nil {
		t.Fatal(err)
	}
	pos, err := s.Given(agg, storetest.Counted{By: 2}, storetest.Counted{By: 3})
	if err != nil || pos.History != 3 {
		t.Fatalf("given: %v %v", pos, err)
	}
	recs, _ := s.Load(context.Background(), agg, 0)
	for i, r := range recs {
		if i > 0 && r.Envelope.PrevHash != recs[i-1].Hash() {
			t.Fatalf("event %d is not chained", i)
		}
	}
	mark, _ := s.Head(context.Background())
	repo := storetest.Counters(s, events.AggregateAccount)
	if _, st, err := repo.Update(context.Background(), agg.ID, storetest.Meta(), storetest.Add(4)); err != nil || st.N != 10 {
		t.Fatalf("update: %v %v", st, err)
	}
	if got := s.EventsSince(mark); len(got) != 1 || got[0] != (storetest.Counted{By: 4}) {
		t.Fatalf("then: %v", got)
	}
}
