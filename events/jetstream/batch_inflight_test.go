package jetstream_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

// More atomic batches at once than the server keeps open per stream (50 by
// default) are all stored: none is refused as an incomplete batch (its
// first message dropped for too many in flight), from one store or from two
// sharing the server as two replicas would.
func TestManyConcurrentBatchesAllStored(t *testing.T) {
	ns := natstest.Server(t, "")
	stores := []interface {
		Append(context.Context, events.Meta, ...events.Change) ([]events.Record, error)
	}{openStore(t, ns.ClientURL(), 1), openStore(t, ns.ClientURL(), 1)}
	const writers = 300
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			// Two aggregates in one append: an atomic batch.
			a := events.Aggregate{Type: events.AggregateSession, ID: uuid.NewString()}
			b := events.Aggregate{Type: events.AggregateSession, ID: uuid.NewString()}
			_, err := stores[i%len(stores)].Append(context.Background(), meta(),
				events.Change{Aggregate: a, Events: []events.Event{counted{By: 1}}},
				events.Change{Aggregate: b, Events: []events.Event{counted{By: 1}}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	var first error
	for err := range errs {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d concurrent batches failed, e.g. %v", failed, writers, first)
	}
}
