// Package storetest is the contract every events.Store honours, as one
// suite that each implementation's tests run (memstore, JetStream on one
// node, JetStream on a three-node cluster with replicated streams).
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
)

// Backend is a store implementation under test.
type Backend struct {
	// Open returns a store whose registry is reg. Stores of one Run may
	// share their medium (the suite uses fresh ids and values), but nobody
	// else may write to it meanwhile: some tests compare heads.
	Open func(t *testing.T, reg *events.Registry) events.Store
	// Another, when set, opens a second store on the medium of s, as
	// another process would; tests of concurrent writers spread them over
	// both. Without it they share s.
	Another func(t *testing.T, s events.Store) events.Store
}

// Run runs the whole contract against b, one subtest per clause.
func Run(t *testing.T, b Backend) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"AppendLoadChain", testAppendLoadChain},
		{"VersionAndHead", testVersionAndHead},
		{"PositionsPerStream", testPositionsPerStream},
		{"Conflict", testConflict},
		{"ConcurrentWritersLoseNothing", testConcurrentWriters},
		{"ConcurrentClaims", testConcurrentClaims},
		{"ClaimRelease", testClaimRelease},
		{"MultiAggregateAppend", testMultiAggregateAppend},
		{"AllOrNothing", testAllOrNothing},
		{"UnregisteredType", testUnregisteredType},
		{"OwnersInBulk", testOwners},
		{"LoadMany", testLoadMany},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, b) })
	}
}

// Counted is a test event: an increment.
type Counted struct {
	By int `json:"by"`
}

// EventName implements events.Event.
func (Counted) EventName() string { return "test_counted" }

// Named is a test event that claims a username (and releases Old).
type Named struct {
	Owner string `json:"owner"`
	Name  string `json:"name"`
	Old   string `json:"old,omitempty"`
}

// EventName implements events.Event.
func (Named) EventName() string { return "test_named" }

// UniqueConstraints implements events.Constrainer.
func (e Named) UniqueConstraints() []events.Constraint {
	cs := []events.Constraint{{Kind: "username", Value: e.Name, Owner: e.Owner}}
	if e.Old != "" {
		cs = append(cs, events.Constraint{Kind: "username", Value: e.Old, Owner: e.Owner, Release: true})
	}
	return cs
}

// Registry holds the suite's event types.
func Registry() *events.Registry { return events.NewRegistry(Counted{}, Named{}) }

// Counter is the test aggregates' state.
type Counter struct {
	N    int
	Name string
}

// Apply implements events.State.
func (c *Counter) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case Counted:
		c.N += e.By
	case Named:
		c.Name = e.Name
	}
}

// Clone implements events.State.
func (c *Counter) Clone() *Counter { cp := *c; return &cp }

// Counters is a repository of test aggregates of type typ.
func Counters(s events.Store, typ string) *events.Repository[*Counter] {
	return events.NewRepository(s, typ, func(string) *Counter { return &Counter{} }, 1000)
}

// Add is a decision that increments by by.
func Add(by int) func(*Counter) (events.Decision, error) {
	return func(*Counter) (events.Decision, error) {
		return events.Decision{Events: []events.Event{Counted{by}}}, nil
	}
}

// Meta is the metadata of the suite's appends.
func Meta() events.Meta { return events.Meta{Actor: "test", Time: time.Now()} }

func open(t *testing.T, b Backend) events.Store {
	t.Helper()
	return b.Open(t, Registry())
}

func account() events.Aggregate {
	return events.Aggregate{Type: events.AggregateAccount, ID: uuid.NewString()}
}

func head(t *testing.T, s events.Store) events.Position {
	t.Helper()
	p, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, s events.Store, agg events.Aggregate, after uint64) []events.Record {
	t.Helper()
	recs, err := s.Load(context.Background(), agg, after)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// Appends store the events chained by prevhash, a stale expected sequence
// is refused, and Load returns what Append returned.
func testAppendLoadChain(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := context.Background()
	agg := account()
	recs, err := s.Append(ctx, Meta(), events.Change{Aggregate: agg, Events: []events.Event{Counted{1}, Counted{2}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[1].Sequence != recs[0].Sequence+1 {
		t.Fatalf("records %+v", recs)
	}
	if _, err := s.Append(ctx, Meta(), events.Change{Aggregate: agg, Expected: 0, Events: []events.Event{Counted{3}}}); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("stale append: got %v, want ErrConflict", err)
	}
	more, err := s.Append(ctx, Meta(), events.Change{Aggregate: agg, Expected: recs[1].Sequence, PrevHash: recs[1].Hash(), Events: []events.Event{Counted{4}}})
	if err != nil {
		t.Fatal(err)
	}
	got := load(t, s, agg, 0)
	if len(got) != 3 {
		t.Fatalf("loaded %d events, want 3", len(got))
	}
	prev := ""
	for i, r := range got {
		if r.Envelope.PrevHash != prev {
			t.Fatalf("event %d: prevhash %q, want %q", i, r.Envelope.PrevHash, prev)
		}
		if r.Envelope.SpecVersion != "1.0" || r.Envelope.Type != "bindery.test_counted.v1" || r.Envelope.Actor != "test" ||
			r.Envelope.Source != events.Source || r.Envelope.Subject != agg.String() || r.Envelope.ID == "" {
			t.Fatalf("envelope %+v", r.Envelope)
		}
		if r.Stream != events.StreamHistory || r.Subject != agg.Subject(Counted{}) || r.Aggregate() != agg {
			t.Fatalf("record %d: stream %q subject %q", i, r.Stream, r.Subject)
		}
		if c, ok := r.Event.(Counted); !ok || c.By != []int{1, 2, 4}[i] {
			t.Fatalf("event %d decoded as %#v", i, r.Event)
		}
		prev = r.Hash()
	}
	for i, r := range append(recs, more...) {
		if got[i].Hash() != r.Hash() || got[i].Sequence != r.Sequence || got[i].Envelope.ID != r.Envelope.ID {
			t.Fatalf("event %d: append result differs from what was stored", i)
		}
	}
	// Loading after a sequence returns only the rest.
	if tail := load(t, s, agg, got[1].Sequence); len(tail) != 1 || tail[0].Sequence != got[2].Sequence {
		t.Fatalf("tail: %d records", len(tail))
	}
	if none := load(t, s, agg, got[2].Sequence); len(none) != 0 {
		t.Fatalf("after the last: %d records", len(none))
	}
	if none := load(t, s, account(), 0); len(none) != 0 {
		t.Fatalf("unknown aggregate: %d records", len(none))
	}
}

// Version is the aggregate's last sequence; Head covers every append.
func testVersionAndHead(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := context.Background()
	agg := account()
	if v, err := s.Version(ctx, agg); err != nil || v != 0 {
		t.Fatalf("version of a new aggregate: %d %v", v, err)
	}
	before := head(t, s)
	recs, err := s.Append(ctx, Meta(), events.Change{Aggregate: agg, Events: []events.Event{Counted{1}, Counted{1}}})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Version(ctx, agg); err != nil || v != recs[1].Sequence {
		t.Fatalf("version %d (%v), want %d", v, err, recs[1].Sequence)
	}
	after := head(t, s)
	if !after.Covers(events.PositionOf(recs)) || after.History != before.History+2 || after.AuthLog != before.AuthLog {
		t.Fatalf("head %v after %v, records reached %v", after, before, events.PositionOf(recs))
	}
	// Another aggregate's append moves the head, not this one's version.
	if _, err := s.Append(ctx, Meta(), events.Change{Aggregate: account(), Events: []events.Event{Counted{1}}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Version(ctx, agg); v != recs[1].Sequence {
		t.Fatalf("version moved to %d", v)
	}
	if h := head(t, s); h.History != after.History+1 {
		t.Fatalf("head %v, want one past %v", h, after)
	}
}

// Each stream numbers its messages: auth-log aggregates' events get auth
// log sequences, history ones history sequences, and claims take history
// sequences after the events of their append; positions only grow.
func testPositionsPerStream(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := context.Background()
	last := head(t, s)
	for i := range 6 {
		typ := events.AggregateAccount
		if i%2 == 1 {
			typ = events.AggregateSession
		}
		agg := events.Aggregate{Type: typ, ID: uuid.NewString()}
		evs := []events.Event{Counted{1}, Counted{2}}
		if i == 4 {
			evs = append(evs, Named{Owner: agg.ID, Name: "pos-" + agg.ID})
		}
		recs, err := s.Append(ctx, Meta(), events.Change{Aggregate: agg, Events: evs})
		if err != nil {
			t.Fatal(err)
		}
		want := events.StreamOf(typ)
		for j, r := range recs {
			if r.Stream != want {
				t.Fatalf("append %d: record in stream %q, want %q", i, r.Stream, want)
			}
			if j > 0 && r.Sequence != recs[j-1].Sequence+1 {
				t.Fatalf("append %d: sequences %d then %d", i, recs[j-1].Sequence, r.Sequence)
			}
		}
		pos := events.PositionOf(recs)
		h := head(t, s)
		switch {
		case want == events.StreamAuthLog:
			if recs[0].Sequence != last.AuthLog+1 || h.AuthLog != pos.AuthLog || h.History != last.History || pos.History != 0 {
				t.Fatalf("auth log append %d: records from %d, head %v after %v", i, recs[0].Sequence, h, last)
			}
		case i == 4: // the claim message follows the events
			if recs[0].Sequence != last.History+1 || h.History != pos.History+1 || h.AuthLog != last.AuthLog {
				t.Fatalf("claiming append: records from %d, head %v after %v", recs[0].Sequence, h, last)
			}
		default:
			if recs[0].Sequence != last.History+1 || h.History != pos.History || h.AuthLog != last.AuthLog || pos.AuthLog != 0 {
				t.Fatalf("history append %d: records from %d, head %v after %v", i, recs[0].Sequence, h, last)
			}
		}
		if !h.Covers(last) || h == last {
			t.Fatalf("head went from %v to %v", last, h)
		}
		got := load(t, s, agg, 0)
		if len(got) != len(recs) || got[len(got)-1].Sequence != recs[len(recs)-1].Sequence || got[0].Stream != want {
			t.Fatalf("append %d: loaded %d records", i, len(got))
		}
		last = h
	}
}

// Only the writer whose expected sequence is current appends; a change
// expecting a new aggregate conflicts once it has events, and a change
// expecting more than there is conflicts too.
func testConflict(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := context.Background()
	agg := account()
	first, err := s.Append(ctx, Meta(), events.Change{Aggregate: agg, Events: []events.Event{Counted{1}}})
	if err != nil {
		t.Fatal(err)
	}
	v := first[0].Sequence
	for _, expected := range []uint64{0, v - 1, v + 1, v + 100} {
		if expected == v {
			continue
		}
		before := head(t, s)
		_, err := s.Append(ctx, Meta(), events.Change{Aggregate: agg, Expected: expected, Events: []events.Event{Counted{1}}})
		if !errors.Is(err, events.ErrConflict) {
			t.Fatalf("expected %d (version %d): %v, want ErrConflict", expected, v, err)
		}
		if h := head(t, s); h != before {
			t.Fatalf("a refused append moved the head from %v to %v", before, h)
		}
	}
	if _, err := s.Append(ctx, Meta(), events.Change{Aggregate: agg, Expected: v, PrevHash: first[0].Hash(), Events: []events.Event{Counted{1}}}); err != nil {
		t.Fatalf("current expected sequence: %v", err)
	}
	if got := load(t, s, agg, 0); len(got) != 2 {
		t.Fatalf("%d events stored, want 2", len(got))
	}
}
