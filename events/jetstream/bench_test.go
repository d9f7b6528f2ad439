package jetstream_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

// BenchmarkStore measures, on one in-process server in one run: the raw
// JetStream sync-publish rate (the ceiling), appends with optimistic
// concurrency through the repository, appends that claim a unique value,
// and cold aggregate loads. Run: make bench (or go test -bench Store).
func BenchmarkStore(b *testing.B) {
	ns := natstest.Server(b, "")
	nc := natstest.Connect(b, ns.ClientURL())
	s, err := bjs.Open(context.Background(), nc, registry(), bjs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	// The raw publishes carry the same bytes an append stores (one encoded
	// envelope), so the comparison isolates the cost of OCC and encoding.
	_, payload, err := events.Encode(events.Aggregate{Type: events.AggregateAccount, ID: uuid.NewString()}, counted{1},
		events.Meta{Actor: "admin:0123456789ab", RequestID: uuid.NewString(), Time: time.Now()}, events.HashBytes(nil))
	if err != nil {
		b.Fatal(err)
	}

	for _, conc := range []int{1, 32} {
		b.Run(fmt.Sprintf("raw-sync-publish/writers=%d", conc), func(b *testing.B) {
			var n atomic.Int64
			parallel(b, conc, func() {
				i := n.Add(1)
				if _, err := js.Publish(ctx, fmt.Sprintf("bindery.events.account.raw%d.test_counted", i%1024), payload); err != nil {
					b.Error(err)
				}
			})
		})
		b.Run(fmt.Sprintf("append-occ/writers=%d", conc), func(b *testing.B) {
			repo := events.NewRepository(events.Store(s), events.AggregateAccount, func(string) *counter { return &counter{} }, 100000)
			var n atomic.Int64
			prefix := uuid.NewString()[:8]
			parallel(b, conc, func() {
				// Each writer goroutine cycles over its own aggregates, so
				// every append carries a real expected sequence.
				id := fmt.Sprintf("%s-%d", prefix, n.Add(1)%512)
				if _, _, err := repo.Update(ctx, id, events.Meta{Actor: "bench", Time: time.Now()}, func(c *counter) (events.Decision, error) {
					return events.Decision{Events: []events.Event{counted{1}}}, nil
				}); err != nil {
					b.Error(err)
				}
			})
		})
	}
	for _, conc := range []int{1, 32} {
		b.Run(fmt.Sprintf("append-with-claim/writers=%d", conc), func(b *testing.B) {
			repo := events.NewRepository(events.Store(s), events.AggregateAccount, func(string) *counter { return &counter{} }, 100000)
			prefix := uuid.NewString()[:8]
			var n atomic.Int64
			parallel(b, conc, func() {
				id := fmt.Sprintf("%s-c%d", prefix, n.Add(1))
				if _, _, err := repo.Update(ctx, id, events.Meta{Actor: "bench", Time: time.Now()}, func(c *counter) (events.Decision, error) {
					return events.Decision{Events: []events.Event{named{Owner: id, Name: id}}}, nil
				}); err != nil {
					b.Error(err)
				}
			})
		})
	}
	b.Run("load-aggregate-10-events-cold", func(b *testing.B) {
		agg := events.Aggregate{Type: events.AggregateAccount, ID: "load-" + uuid.NewString()[:8]}
		var last events.Record
		for i := 0; i < 10; i++ {
			ch := events.Change{Aggregate: agg, Expected: last.Sequence, PrevHash: hashOf(last), Events: []events.Event{counted{1}}}
			recs, err := s.Append(ctx, events.Meta{Time: time.Now()}, ch)
			if err != nil {
				b.Fatal(err)
			}
			last = recs[0]
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			recs, err := s.Load(ctx, agg, 0)
			if err != nil || len(recs) != 10 {
				b.Fatal(err, len(recs))
			}
		}
	})
}

func hashOf(r events.Record) string {
	if r.Raw == nil {
		return ""
	}
	return r.Hash()
}

// parallel runs f b.N times over conc goroutines and reports ops/s.
func parallel(b *testing.B, conc int, f func()) {
	b.Helper()
	var left atomic.Int64
	left.Store(int64(b.N))
	done := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < conc; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for left.Add(-1) >= 0 {
				f()
			}
		}()
	}
	for w := 0; w < conc; w++ {
		<-done
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

var _ = nats.Header{}
