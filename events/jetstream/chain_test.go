package jetstream_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

// An event written around the repository whose prevhash does not chain
// (empty here, as a forger who does not care) is refused when the
// aggregate is folded: Update answers ErrChainBroken naming the event,
// both for a cached aggregate (found through the conflict) and for one
// loaded fresh, and nothing more is appended to it.
func TestRepositoryRefusesBrokenChain(t *testing.T) {
	ns := natstest.Server(t, "")
	s := openStore(t, ns.ClientURL(), 1)
	ctx := context.Background()
	id := uuid.NewString()
	repo := events.NewRepository(events.Store(s), events.AggregateAccount, func(string) *counter { return &counter{} }, 10)
	add := func(c *counter) (events.Decision, error) {
		return events.Decision{Events: []events.Event{counted{By: 1}}}, nil
	}
	if _, _, err := repo.Update(ctx, id, meta(), add); err != nil {
		t.Fatal(err)
	}
	agg := events.Aggregate{Type: events.AggregateAccount, ID: id}
	_, raw, err := events.Encode(agg, counted{By: 100}, meta(), "")
	if err != nil {
		t.Fatal(err)
	}
	ack, err := s.JetStream().Publish(ctx, agg.Subject(counted{}), raw)
	if err != nil {
		t.Fatal(err)
	}
	check := func(repo *events.Repository[*counter]) {
		t.Helper()
		_, _, err := repo.Update(ctx, id, meta(), add)
		var brk *events.ChainBreakError
		if !errors.Is(err, events.ErrChainBroken) || !errors.As(err, &brk) || brk.Sequence != ack.Sequence || brk.Subject != agg.Subject(counted{}) {
			t.Fatalf("update on a broken chain: %v", err)
		}
	}
	check(repo) // cached: the append conflicts, the fresh load breaks
	check(repo) // not cached any more
	check(events.NewRepository(events.Store(s), events.AggregateAccount, func(string) *counter { return &counter{} }, 10))
	recs, err := s.Load(ctx, agg, 0)
	if err != nil || len(recs) != 2 {
		t.Fatalf("stored: %d records, %v", len(recs), err)
	}
}
