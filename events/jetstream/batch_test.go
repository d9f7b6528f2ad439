package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

func newCounters(s events.Store) *events.Repository[*counter] {
	return events.NewRepository(s, events.AggregateAccount, func(string) *counter { return &counter{} }, 1000)
}

func add(by int) func(*counter) (events.Decision, error) {
	return func(*counter) (events.Decision, error) {
		return events.Decision{Events: []events.Event{counted{by}}}, nil
	}
}

// UpdateMany appends the decisions on several aggregates in one atomic
// append: new and existing aggregates, an item whose decision fails is left
// out, and the cache holds the states after the append.
func TestUpdateManyAppendsTogether(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			open, _ := b.connect(t)
			s := open(t)
			ctx := context.Background()
			repo := newCounters(s)
			old := uuid.NewString()
			if _, _, err := repo.Update(ctx, old, meta(), add(5)); err != nil {
				t.Fatal(err)
			}
			head, _ := s.Head(ctx)
			fresh1, fresh2, bad, same := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
			refused := errors.New("refused")
			pos, errs, err := repo.UpdateMany(ctx, meta(), []events.Item[*counter]{
				{ID: old, Decide: func(c *counter) (events.Decision, error) {
					if c.n != 5 {
						return events.Decision{}, fmt.Errorf("state n=%d, want 5", c.n)
					}
					return events.Decision{Events: []events.Event{counted{1}, counted{2}}}, nil
				}},
				{ID: fresh1, New: true, Decide: add(7)},
				{ID: bad, New: true, Decide: func(*counter) (events.Decision, error) { return events.Decision{}, refused }},
				{ID: same, New: true, Decide: func(*counter) (events.Decision, error) { return events.Decision{}, nil }},
				{ID: fresh2, Decide: add(9)}, // not hinted: loaded, finds nothing
			})
			if err != nil {
				t.Fatal(err)
			}
			if errs[0] != nil || !errors.Is(errs[2], refused) || errs[1] != nil || errs[3] != nil || errs[4] != nil {
				t.Fatalf("item errors %v", errs)
			}
			// Four events, stored contiguously right after the head (the
			// claims of other tests are not in this stream).
			if pos.History != head.History+4 {
				t.Fatalf("position %v, head before %v: want 4 events more", pos, head)
			}
			for id, want := range map[string]int{old: 8, fresh1: 7, fresh2: 9, bad: 0, same: 0} {
				c, _, err := repo.Get(ctx, id)
				if err != nil || c.n != want {
					t.Fatalf("cached %s: n=%d (%v), want %d", id, c.n, err, want)
				}
				other, _, err := newCounters(s).Get(ctx, id) // from the store
				if err != nil || other.n != want {
					t.Fatalf("stored %s: n=%d (%v), want %d", id, other.n, err, want)
				}
			}
			// The cached version is the stored one: a later Update needs
			// no retry.
			conflicts := 0
			repo.OnConflict = func() { conflicts++ }
			if _, _, err := repo.Update(ctx, old, meta(), add(1)); err != nil || conflicts != 0 {
				t.Fatalf("update after UpdateMany: %v, %d conflicts", err, conflicts)
			}
			if _, _, err := repo.UpdateMany(ctx, meta(), []events.Item[*counter]{{ID: old, Decide: add(1)}, {ID: old, Decide: add(1)}}); err == nil {
				t.Fatal("an id twice was accepted")
			}
		})
	}
}

// When one item of the batch is stale or claims a taken value, nothing of
// the batch is stored.
func TestUpdateManyAllOrNothing(t *testing.T) {
	ns := natstest.Server(t, "")
	s := openStore(t, ns.ClientURL(), 1)
	ctx := context.Background()
	repo, other := newCounters(s), newCounters(s)
	stale := uuid.NewString()
	if _, _, err := repo.Update(ctx, stale, meta(), add(1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.Update(ctx, stale, meta(), add(1)); err != nil { // repo's cache is now stale
		t.Fatal(err)
	}
	holder := uuid.NewString()
	name := "taken-" + uuid.NewString()[:8]
	if _, _, err := other.Update(ctx, holder, meta(), func(*counter) (events.Decision, error) {
		return events.Decision{Events: []events.Event{named{Owner: holder, Name: name}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	existing := uuid.NewString()
	if _, _, err := other.Update(ctx, existing, meta(), add(1)); err != nil {
		t.Fatal(err)
	}
	var taken *events.ClaimTakenError
	cases := []struct {
		name    string
		culprit events.Item[*counter]
		want    func(error) bool
	}{
		{"stale", events.Item[*counter]{ID: stale, Decide: add(1)}, func(err error) bool { return errors.Is(err, events.ErrConflict) }},
		{"claim taken", events.Item[*counter]{ID: uuid.NewString(), New: true, Decide: func(*counter) (events.Decision, error) {
			return events.Decision{Events: []events.Event{named{Owner: "someone", Name: name}}}, nil
		}}, func(err error) bool { return errors.As(err, &taken) && taken.Owner == holder }},
		{"wrong new hint", events.Item[*counter]{ID: existing, New: true, Decide: add(1)}, func(err error) bool { return errors.Is(err, events.ErrConflict) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			head, _ := s.Head(ctx)
			innocent := uuid.NewString()
			_, _, err := repo.UpdateMany(ctx, meta(), []events.Item[*counter]{{ID: innocent, New: true, Decide: add(1)}, tc.culprit})
			if !tc.want(err) {
				t.Fatalf("UpdateMany: %v", err)
			}
			after, _ := s.Head(ctx)
			if after != head {
				t.Fatalf("head moved from %v to %v: part of a failed batch was stored", head, after)
			}
			if recs, err := s.Load(ctx, events.Aggregate{Type: events.AggregateAccount, ID: innocent}, 0); err != nil || len(recs) != 0 {
				t.Fatalf("the innocent item has %d events (%v)", len(recs), err)
			}
			// Update per item (what bulk sync falls back to) stores the
			// innocent one.
			if _, _, err := repo.Update(ctx, innocent, meta(), add(1)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Batches and single updates on overlapping aggregates, from many
// goroutines: no deadlock, and every acknowledged increment is stored.
func TestUpdateManyWithConcurrentUpdates(t *testing.T) {
	ns := natstest.Server(t, "")
	s := openStore(t, ns.ClientURL(), 1)
	ctx := context.Background()
	repo := newCounters(s)
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	var mu sync.Mutex
	acked := map[string]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for round := range 15 {
				if w%2 == 0 {
					id := ids[(w+round)%len(ids)]
					if _, _, err := repo.Update(ctx, id, meta(), add(1)); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					acked[id]++
					mu.Unlock()
					continue
				}
				// Three ids, in an order that differs per goroutine.
				var items []events.Item[*counter]
				for k := range 3 {
					items = append(items, events.Item[*counter]{ID: ids[(w*3+round+k*(w+1))%len(ids)], Decide: add(1)})
				}
				if items[0].ID == items[1].ID || items[1].ID == items[2].ID || items[0].ID == items[2].ID {
					continue
				}
				_, _, err := repo.UpdateMany(ctx, meta(), items)
				if err != nil {
					t.Error(err) // one process: the stripes serialise writers, no conflict
					return
				}
				mu.Lock()
				for _, it := range items {
					acked[it.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		c, _, err := newCounters(s).Get(ctx, id)
		if err != nil || c.n != acked[id] {
			t.Fatalf("%s: stored %d (%v), acknowledged %d", id, c.n, err, acked[id])
		}
	}
}

// Owners reads many claims at once: in chunks of direct multi-gets on a
// single server, by concurrent gets on a cluster; values nobody holds (or
// that were released) are absent.
func TestOwnersInBulk(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			open, _ := b.connect(t)
			s := open(t)
			ctx := context.Background()
			repo := newCounters(s)
			n := 1200 // more than one multi-get
			if b.name == "cluster" {
				n = 150
			}
			prefix := uuid.NewString()[:8]
			owners := map[events.ClaimKey]string{}
			var items []events.Item[*counter]
			for i := range n {
				id, name := uuid.NewString(), fmt.Sprintf("%s-%d", prefix, i)
				owners[events.ClaimKey{Kind: "username", Value: name}] = id
				items = append(items, events.Item[*counter]{ID: id, New: true, Decide: func(*counter) (events.Decision, error) {
					return events.Decision{Events: []events.Event{named{Owner: id, Name: name}}}, nil
				}})
				if len(items) == 150 {
					if _, _, err := repo.UpdateMany(ctx, meta(), items); err != nil {
						t.Fatal(err)
					}
					items = nil
				}
			}
			// Release one value.
			released := events.ClaimKey{Kind: "username", Value: prefix + "-0"}
			holder := owners[released]
			if _, _, err := repo.Update(ctx, holder, meta(), func(*counter) (events.Decision, error) {
				return events.Decision{Events: []events.Event{named{Owner: holder, Name: prefix + "-renamed", Old: released.Value}}}, nil
			}); err != nil {
				t.Fatal(err)
			}
			delete(owners, released)
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
			none, err := events.Owners(ctx, s, keys[:3])
			if err != nil || len(none) != 0 {
				t.Fatalf("unheld values: %v %v", none, err)
			}
		})
	}
}

// dyn is an event whose name is its field, so a test aggregate can have
// events under many subjects.
type dyn struct {
	N string `json:"n"`
}

func (d dyn) EventName() string { return d.N }

// LoadMany returns what Load returns, for aggregates whose events chain
// from the last event of each subject (one event per name), those with
// several events of one name (completed by walking them), those with more
// subjects than one multi-get may answer, and none for unknown ones.
func TestLoadMany(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			open, c := b.connect(t)
			url := ""
			if c != nil {
				url = c.URLs()
			}
			s := open(t)
			if c == nil {
				// A store whose registry knows dyn, on the same server.
				url = s.Conn().ConnectedUrl()
			}
			reg := registry()
			var names []events.Event
			for i := range 12 {
				names = append(names, dyn{N: fmt.Sprintf("x%d", i)})
				reg.Register(dyn{N: fmt.Sprintf("x%d", i)})
			}
			replicas := 1
			if c != nil {
				replicas = 3
			}
			nc := natstest.Connect(t, url)
			s2, err := bjs.Open(context.Background(), nc, reg, bjs.Config{Replicas: replicas})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			repo := events.NewRepository(events.Store(s2), events.AggregateAccount, func(string) *counter { return &counter{} }, 10)
			var aggs []events.Aggregate
			n := 300 // three chunks
			if c != nil {
				n = 60
			}
			for i := range n {
				id := uuid.NewString()
				aggs = append(aggs, events.Aggregate{Type: events.AggregateAccount, ID: id})
				var evs []events.Event
				kind := i % 4
				if i >= 200 {
					kind = 3 // a chunk of these alone exceeds one multi-get
				}
				switch kind {
				case 0: // one event
					evs = []events.Event{counted{1}}
				case 1: // two names: the last of each is everything
					evs = []events.Event{counted{1}, named{Owner: id, Name: "n-" + id}}
				case 2: // one name twice: a gap
					evs = []events.Event{counted{1}, named{Owner: id, Name: "a-" + id}, counted{2}}
				case 3: // twelve names: a hundred of these exceed one multi-get
					evs = names
				}
				for _, e := range evs {
					if _, _, err := repo.Update(ctx, id, meta(), func(*counter) (events.Decision, error) {
						return events.Decision{Events: []events.Event{e}}, nil
					}); err != nil {
						t.Fatal(err)
					}
				}
			}
			aggs = append(aggs, events.Aggregate{Type: events.AggregateAccount, ID: "never-" + uuid.NewString()})
			got, err := s2.LoadMany(ctx, aggs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("%d histories, want %d", len(got), n)
			}
			for _, a := range aggs {
				want, err := s2.Load(ctx, a, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(got[a]) != len(want) {
					t.Fatalf("%v: %d events, Load has %d", a, len(got[a]), len(want))
				}
				for i := range want {
					if got[a][i].Sequence != want[i].Sequence || got[a][i].Hash() != want[i].Hash() {
						t.Fatalf("%v event %d differs", a, i)
					}
				}
			}
		})
	}
}

// bare hides the store's optional interfaces.
type bare struct{ events.Store }

// RefreshMany sees what another replica appended, with or without a bulk
// loader, and leaves the cache ready for the next append.
func TestRefreshMany(t *testing.T) {
	ns := natstest.Server(t, "")
	s := openStore(t, ns.ClientURL(), 1)
	ctx := context.Background()
	for _, store := range []events.Store{s, bare{s}} {
		mine, other := newCounters(store), newCounters(s)
		var ids []string
		for range 5 {
			id := uuid.NewString()
			ids = append(ids, id)
			if _, _, err := mine.Update(ctx, id, meta(), add(1)); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range ids[:2] {
			if _, _, err := other.Update(ctx, id, meta(), add(10)); err != nil {
				t.Fatal(err)
			}
		}
		unknown := uuid.NewString()
		states, err := mine.RefreshMany(ctx, append(ids, unknown))
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			want := 1
			if i < 2 {
				want = 11
			}
			if states[id].n != want {
				t.Fatalf("%T: %s n=%d, want %d", store, id, states[id].n, want)
			}
		}
		if st, ok := states[unknown]; !ok || st.n != 0 {
			t.Fatalf("unknown aggregate: %v %v", st, ok)
		}
		conflicts := 0
		mine.OnConflict = func() { conflicts++ }
		for _, id := range ids {
			if _, _, err := mine.Update(ctx, id, meta(), add(1)); err != nil {
				t.Fatal(err)
			}
		}
		if conflicts != 0 {
			t.Fatalf("%T: %d conflicts after RefreshMany: the cache was stale", store, conflicts)
		}
	}
}
