package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
)

// events.Owners (through the store's OwnerLister, if it is one) says who
// holds each value; values nobody holds, or that were released, are absent.
func testOwners(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := context.Background()
	repo := Counters(s, events.AggregateAccount)
	prefix := uuid.NewString()[:8]
	owners := map[events.ClaimKey]string{}
	var items []events.Item[*Counter]
	for i := range 40 {
		id, name := uuid.NewString(), fmt.Sprintf("%s-%d", prefix, i)
		owners[events.ClaimKey{Kind: "username", Value: name}] = id
		items = append(items, events.Item[*Counter]{ID: id, New: true, Decide: func(*Counter) (events.Decision, error) {
			return events.Decision{Events: []events.Event{Named{Owner: id, Name: name}}}, nil
		}})
	}
	if _, _, err := repo.UpdateMany(ctx, Meta(), items); err != nil {
		t.Fatal(err)
	}
	released := events.ClaimKey{Kind: "username", Value: prefix + "-0"}
	holder := owners[released]
	if _, _, err := repo.Update(ctx, holder, Meta(), func(*Counter) (events.Decision, error) {
		return events.Decision{Events: []events.Event{Named{Owner: holder, Name: prefix + "-renamed", Old: released.Value}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	delete(owners, released)
	owners[events.ClaimKey{Kind: "username", Value: prefix + "-renamed"}] = holder
	keys := []events.ClaimKey{released, {Kind: "username", Value: "nobody-" + prefix}, {Kind: "phone", Value: prefix + "-1"}}
	for k := range owners {
		keys = append(keys, k)
	}
	got, err := events.Owners(ctx, s, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(owners) {
		t.Fatalf("%d owners, want %d", len(got), len(owners))
	}
	for k, want := range owners {
		if got[k] != want {
			t.Fatalf("owner of %v = %q, want %q", k, got[k], want)
		}
	}
	if none, err := events.Owners(ctx, s, keys[:3]); err != nil || len(none) != 0 {
		t.Fatalf("unheld values: %v %v", none, err)
	}
}

// A BulkLoader's LoadMany returns what Load returns, for both streams;
// aggregates without events are absent.
func testLoadMany(t *testing.T, b Backend) {
	s := open(t, b)
	bl, ok := s.(events.BulkLoader)
	if !ok {
		t.Skipf("%T is not an events.BulkLoader", s)
	}
	ctx := context.Background()
	var aggs []events.Aggregate
	for i := range 12 {
		typ := events.AggregateAccount
		if i%3 == 2 {
			typ = events.AggregateLogin
		}
		agg := events.Aggregate{Type: typ, ID: uuid.NewString()}
		aggs = append(aggs, agg)
		repo := Counters(s, typ)
		evs := [][]events.Event{{Counted{1}}, {Counted{1}, Named{Owner: agg.ID, Name: "lm-" + agg.ID}}, {Counted{1}, Counted{2}}, {Counted{1}, Named{Owner: agg.ID, Name: "lm-" + agg.ID}, Counted{3}}}[i%4]
		if typ == events.AggregateLogin {
			evs = []events.Event{Counted{1}, Counted{2}}
		}
		for _, e := range evs {
			if _, _, err := repo.Update(ctx, agg.ID, Meta(), func(*Counter) (events.Decision, error) {
				return events.Decision{Events: []events.Event{e}}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	aggs = append(aggs, account(), events.Aggregate{Type: events.AggregateLogin, ID: uuid.NewString()})
	got, err := bl.LoadMany(ctx, aggs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 {
		t.Fatalf("%d histories, want 12", len(got))
	}
	for _, a := range aggs {
		want := load(t, s, a, 0)
		if len(got[a]) != len(want) {
			t.Fatalf("%v: %d events, Load has %d", a, len(got[a]), len(want))
		}
		for i := range want {
			if got[a][i].Sequence != want[i].Sequence || got[a][i].Hash() != want[i].Hash() || got[a][i].Stream != want[i].Stream {
				t.Fatalf("%v event %d differs", a, i)
			}
		}
		checkChain(t, got[a])
	}
}
