package events_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/events/memstore"
	"github.com/bindery/bindery/events/storetest"
)

// heldStore reads the store at once on its first Load, then holds that
// answer until released: a read that began before what comes next.
type heldStore struct {
	events.Store
	loads   atomic.Int64
	entered chan struct{}
	release chan struct{}
}

func (s *heldStore) Load(ctx context.Context, agg events.Aggregate, after uint64) ([]events.Record, error) {
	recs, err := s.Store.Load(ctx, agg, after)
	if s.loads.Add(1) == 1 {
		close(s.entered)
		<-s.release
	}
	return recs, err
}

// Callers that arrive while a read is under way do not take its (older)
// answer: they share the next read, one for all of them, and it holds what
// another replica wrote before they called.
func TestRefreshSharesOnlyLaterReads(t *testing.T) {
	ctx := context.Background()
	store := memstore.New(memstore.WithRegistry(storetest.Registry()))
	held := &heldStore{Store: store, entered: make(chan struct{}), release: make(chan struct{})}
	repo := storetest.Counters(held, events.AggregateAccount)
	other := storetest.Counters(store, events.AggregateAccount) // another replica
	id := uuid.NewString()
	if _, _, err := other.Update(ctx, id, storetest.Meta(), storetest.Add(1)); err != nil {
		t.Fatal(err)
	}

	first := make(chan int, 1)
	go func() {
		c, _, err := repo.Refresh(ctx, id)
		if err != nil {
			t.Error(err)
		}
		first <- c.N
	}()
	<-held.entered // its read holds N=1
	if _, _, err := other.Update(ctx, id, storetest.Meta(), storetest.Add(1)); err != nil {
		t.Fatal(err)
	}

	const late = 50
	var wg sync.WaitGroup
	seen := make([]int, late)
	for i := range late {
		wg.Go(func() {
			c, _, err := repo.Refresh(ctx, id)
			if err != nil {
				t.Error(err)
			}
			seen[i] = c.N
		})
	}
	// The first call and its read took two ticks; each late call takes one
	// as it arrives, before it waits for the first read to finish.
	deadline := time.Now().Add(10 * time.Second)
	for repo.Ticks() < 2+late {
		if time.Now().After(deadline) {
			t.Fatalf("only %d ticks: the late callers did not arrive", repo.Ticks())
		}
		time.Sleep(time.Millisecond)
	}
	close(held.release)
	wg.Wait()
	if n := <-first; n != 1 {
		t.Fatalf("the first read answered N=%d, want the 1 it read", n)
	}
	for i, n := range seen {
		if n != 2 {
			t.Fatalf("late caller %d saw N=%d: it missed a write made before it called", i, n)
		}
	}
	if n := held.loads.Load(); n != 2 {
		t.Fatalf("%d store reads for 1 + %d callers, want 2 (the first, and one shared by the late ones)", n, late)
	}
}
