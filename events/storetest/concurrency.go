package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
)

// stores is s and, when the backend can, a second store on its medium.
func stores(t *testing.T, b Backend, s events.Store) []events.Store {
	if b.Another == nil {
		return []events.Store{s}
	}
	return []events.Store{s, b.Another(t, s)}
}

// Sixteen writers, each with its own repository (as separate replicas
// would have), increment one aggregate: every acknowledged increment is in
// the final state, and the failures are only too-many-conflicts.
func testConcurrentWriters(t *testing.T, b Backend) {
	s := open(t, b)
	ss := stores(t, b, s)
	id := uuid.NewString()
	const writers, each = 16, 10
	var acked, refused, conflicts atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		repo := Counters(ss[w%len(ss)], events.AggregateAccount)
		repo.OnConflict = func() { conflicts.Add(1) }
		wg.Go(func() {
			for range each {
				_, _, err := repo.Update(context.Background(), id, Meta(), Add(1))
				switch {
				case err == nil:
					acked.Add(1)
				case errors.Is(err, events.ErrTooManyConflicts):
					refused.Add(1)
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	c, _, err := Counters(s, events.AggregateAccount).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if int64(c.N) != acked.Load() {
		t.Fatalf("state has %d increments, %d were acknowledged (%d refused)", c.N, acked.Load(), refused.Load())
	}
	if acked.Load()+refused.Load() != writers*each {
		t.Fatalf("acked %d + refused %d != %d", acked.Load(), refused.Load(), writers*each)
	}
	if acked.Load() == 0 {
		t.Fatal("no write was acknowledged")
	}
	// The stored history is whole: one event per acknowledged write,
	// chained by prevhash.
	recs := load(t, s, events.Aggregate{Type: events.AggregateAccount, ID: id}, 0)
	if int64(len(recs)) != acked.Load() {
		t.Fatalf("%d events stored, %d acknowledged", len(recs), acked.Load())
	}
	checkChain(t, recs)
	t.Logf("%d acknowledged, %d refused after retries, %d conflicts met", acked.Load(), refused.Load(), conflicts.Load())
}

// checkChain fails unless each record's prevhash is the hash of the one
// before it, and the first has none.
func checkChain(t *testing.T, recs []events.Record) {
	t.Helper()
	prev := ""
	for i, r := range recs {
		if r.Envelope.PrevHash != prev {
			t.Fatalf("event %d: prevhash %q, want %q", i, r.Envelope.PrevHash, prev)
		}
		if i > 0 && r.Sequence <= recs[i-1].Sequence {
			t.Fatalf("event %d: sequence %d after %d", i, r.Sequence, recs[i-1].Sequence)
		}
		prev = r.Hash()
	}
}

// Fifty aggregates race to claim one username: exactly one gets it.
func testConcurrentClaims(t *testing.T, b Backend) {
	s := open(t, b)
	ss := stores(t, b, s)
	name := "alice-" + uuid.NewString()[:8]
	var won atomic.Int64
	var winner atomic.Value
	var wg sync.WaitGroup
	for i := range 50 {
		repo := Counters(ss[i%len(ss)], events.AggregateAccount)
		id := uuid.NewString()
		wg.Go(func() {
			_, _, err := repo.Update(context.Background(), id, Meta(), func(*Counter) (events.Decision, error) {
				return events.Decision{Events: []events.Event{Named{Owner: id, Name: name}}}, nil
			})
			var taken *events.ClaimTakenError
			switch {
			case err == nil:
				won.Add(1)
				winner.Store(id)
			case errors.As(err, &taken), errors.Is(err, events.ErrTooManyConflicts):
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d aggregates claimed %q, want exactly 1", won.Load(), name)
	}
	for _, st := range ss {
		owner, err := st.Owner(context.Background(), "username", name)
		if err != nil || owner != winner.Load().(string) {
			t.Fatalf("owner %q (%v), want the winner %v", owner, err, winner.Load())
		}
	}
}

// A released value can be claimed by someone else; a rename releases the old.
func testClaimRelease(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := context.Background()
	repo := Counters(s, events.AggregateAccount)
	a, bob := uuid.NewString(), uuid.NewString()
	suffix := "-" + uuid.NewString()[:8]
	set := func(id, name, old string) error {
		if old != "" {
			old += suffix
		}
		_, _, err := repo.Update(ctx, id, Meta(), func(*Counter) (events.Decision, error) {
			return events.Decision{Events: []events.Event{Named{Owner: id, Name: name + suffix, Old: old}}}, nil
		})
		return err
	}
	if err := set(a, "bob", ""); err != nil {
		t.Fatal(err)
	}
	var taken *events.ClaimTakenError
	if err := set(bob, "bob", ""); !errors.As(err, &taken) || taken.Owner != a || taken.Kind != "username" {
		t.Fatalf("second claim: %v", err)
	}
	if err := set(a, "robert", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := set(bob, "bob", ""); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	before := head(t, s)
	if err := set(a, "robert", "robert"); err != nil { // re-claim own value: no-op
		t.Fatal(err)
	}
	if h := head(t, s); h.History != before.History+1 {
		t.Fatalf("re-claiming an own value wrote %d messages, want the event alone", h.History-before.History)
	}
	// Releasing a value someone else holds leaves it theirs.
	if err := set(a, "alfred", "bob"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"bob": bob, "robert": a, "alfred": a} {
		if got, err := s.Owner(ctx, "username", name+suffix); err != nil || got != want {
			t.Fatalf("owner of %s = %q (%v), want %q", name, got, err, want)
		}
	}
}

// Changes of several aggregates in one append are stored together,
// contiguously, in order.
func testMultiAggregateAppend(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := context.Background()
	x, y := account(), account()
	if _, err := s.Append(ctx, Meta(), events.Change{Aggregate: x, Events: []events.Event{Counted{1}}}); err != nil {
		t.Fatal(err)
	}
	xs := load(t, s, x, 0)
	before := head(t, s)
	recs, err := s.Append(ctx, Meta(),
		events.Change{Aggregate: x, Expected: xs[0].Sequence, PrevHash: xs[0].Hash(), Events: []events.Event{Counted{2}, Counted{3}}},
		events.Change{Aggregate: y, Events: []events.Event{Counted{4}, Named{Owner: y.ID, Name: "multi-" + y.ID}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	for i, r := range recs {
		if r.Sequence != before.History+1+uint64(i) {
			t.Fatalf("record %d: sequence %d, want %d", i, r.Sequence, before.History+1+uint64(i))
		}
		if want := []events.Aggregate{x, x, y, y}[i]; r.Aggregate() != want {
			t.Fatalf("record %d of %v, want %v", i, r.Aggregate(), want)
		}
	}
	if h := head(t, s); h.History != before.History+5 { // four events and a claim
		t.Fatalf("head %v after %v", h, before)
	}
	checkChain(t, load(t, s, x, 0))
	checkChain(t, load(t, s, y, 0))
	if v, _ := s.Version(ctx, y); v != recs[3].Sequence {
		t.Fatalf("version of y %d, want %d", v, recs[3].Sequence)
	}
	if o, _ := s.Owner(ctx, "username", "multi-"+y.ID); o != y.ID {
		t.Fatalf("owner %q, want %q", o, y.ID)
	}
}

// When one change of an append is stale or claims a taken value, nothing
// of the append is stored: no event of any aggregate, no claim.
func testAllOrNothing(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := context.Background()
	holder, stale := account(), account()
	taken := "taken-" + uuid.NewString()[:8]
	if _, err := s.Append(ctx, Meta(), events.Change{Aggregate: holder, Events: []events.Event{Named{Owner: holder.ID, Name: taken}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, Meta(), events.Change{Aggregate: stale, Events: []events.Event{Counted{1}, Counted{1}}}); err != nil {
		t.Fatal(err)
	}
	var takenErr *events.ClaimTakenError
	for _, tc := range []struct {
		name    string
		culprit events.Change
		want    func(error) bool
	}{
		{"stale", events.Change{Aggregate: stale, Expected: 1, Events: []events.Event{Counted{1}}},
			func(err error) bool { return errors.Is(err, events.ErrConflict) }},
		{"claim taken", events.Change{Aggregate: account(), Events: []events.Event{Counted{1}, Named{Owner: "someone", Name: taken}}},
			func(err error) bool { return errors.As(err, &takenErr) && takenErr.Owner == holder.ID }},
		{"wrong new hint", events.Change{Aggregate: stale, Events: []events.Event{Counted{1}}},
			func(err error) bool { return errors.Is(err, events.ErrConflict) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := head(t, s)
			innocent := account()
			fresh := "fresh-" + uuid.NewString()[:8]
			_, err := s.Append(ctx, Meta(),
				events.Change{Aggregate: innocent, Events: []events.Event{Counted{1}, Named{Owner: innocent.ID, Name: fresh}}},
				tc.culprit)
			if !tc.want(err) {
				t.Fatalf("append: %v", err)
			}
			if h := head(t, s); h != before {
				t.Fatalf("head moved from %v to %v: part of a failed append was stored", before, h)
			}
			if recs := load(t, s, innocent, 0); len(recs) != 0 {
				t.Fatalf("the innocent aggregate has %d events", len(recs))
			}
			if o, err := s.Owner(ctx, "username", fresh); err != nil || o != "" {
				t.Fatalf("the innocent claim is held by %q (%v)", o, err)
			}
			if o, _ := s.Owner(ctx, "username", taken); o != holder.ID {
				t.Fatalf("the taken value moved to %q", o)
			}
			if recs := load(t, s, stale, 0); len(recs) != 2 {
				t.Fatalf("the stale aggregate has %d events, want 2", len(recs))
			}
			// Alone, the innocent change is stored.
			if _, err := s.Append(ctx, Meta(), events.Change{Aggregate: innocent, Events: []events.Event{Counted{1}, Named{Owner: innocent.ID, Name: fresh}}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// unregistered is an event type no registry of the suite holds.
type unregistered struct{}

func (unregistered) EventName() string { return "test_unregistered" }

// An event type missing from the store's registry is refused before
// anything of its append is stored.
func testUnregisteredType(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := context.Background()
	agg := account()
	before := head(t, s)
	_, err := s.Append(ctx, Meta(), events.Change{Aggregate: agg, Events: []events.Event{Counted{1}, unregistered{}}})
	if !errors.Is(err, events.ErrUnregistered) {
		t.Fatalf("append of an unregistered type: %v, want ErrUnregistered", err)
	}
	if h := head(t, s); h != before {
		t.Fatalf("head moved from %v to %v", before, h)
	}
	if recs := load(t, s, agg, 0); len(recs) != 0 {
		t.Fatalf("%d events stored", len(recs))
	}
}
