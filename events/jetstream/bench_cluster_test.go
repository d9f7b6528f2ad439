package jetstream_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

// BenchmarkClusterStore measures appends on a 3-node cluster with R3
// streams (the production shape), where atomic batches stage in memory.
func BenchmarkClusterStore(b *testing.B) {
	c := natstest.NewCluster(b)
	s := openStoreTB(b, c.URLs(), 3)
	ctx := context.Background()
	for _, conc := range []int{1, 32} {
		b.Run(fmt.Sprintf("append-occ/writers=%d", conc), func(b *testing.B) {
			repo := events.NewRepository(events.Store(s), events.AggregateAccount, func(string) *counter { return &counter{} }, 100000)
			var n atomic.Int64
			prefix := uuid.NewString()[:8]
			parallel(b, conc, func() {
				id := fmt.Sprintf("%s-%d", prefix, n.Add(1)%512)
				if _, _, err := repo.Update(ctx, id, events.Meta{Time: time.Now()}, func(c *counter) (events.Decision, error) {
					return events.Decision{Events: []events.Event{counted{1}}}, nil
				}); err != nil {
					b.Error(err)
				}
			})
		})
		b.Run(fmt.Sprintf("append-with-claim/writers=%d", conc), func(b *testing.B) {
			repo := events.NewRepository(events.Store(s), events.AggregateAccount, func(string) *counter { return &counter{} }, 100000)
			prefix := uuid.NewString()[:8]
			var n atomic.Int64
			parallel(b, conc, func() {
				id := fmt.Sprintf("%s-c%d", prefix, n.Add(1))
				if _, _, err := repo.Update(ctx, id, events.Meta{Time: time.Now()}, func(c *counter) (events.Decision, error) {
					return events.Decision{Events: []events.Event{named{Owner: id, Name: id}}}, nil
				}); err != nil {
					b.Error(err)
				}
			})
		})
	}
}
