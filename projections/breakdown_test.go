package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/devtools/natstest"
	"github.com/bindery/bindery/projections"
)

// BenchmarkReplayBreakdown splits replay cost: reading the stream, decoding, applying.
func BenchmarkReplayBreakdown(b *testing.B) {
	const n = 200_000
	ns := natstest.Server(b, "")
	nc := natstest.Connect(b, ns.ClientURL())
	s, _ := bjs.Open(context.Background(), nc, events.Catalogue(), bjs.Config{})
	fill(b, nc, n)
	reg := events.Catalogue()
	for _, mode := range []string{"read", "read+decode", "read+decode+apply"} {
		cons, _ := s.JetStream().OrderedConsumer(context.Background(), bjs.HistoryStream, jetstream.OrderedConsumerConfig{})
		it, _ := cons.Messages(jetstream.PullMaxMessages(4096))
		acc := projections.NewAccounts()
		start := time.Now()
		for i := 0; i < n; i++ {
			m, _ := it.Next()
			md, _ := m.Metadata()
			if mode != "read" {
				rec, _ := events.DecodeRecord(reg, "history", md.Sequence.Stream, m.Subject(), m.Data())
				if mode == "read+decode+apply" {
					acc.Apply(rec)
				}
			}
		}
		b.Logf("%s: %.0f msgs/s", mode, n/time.Since(start).Seconds())
		it.Stop()
	}
}

func BenchmarkAccountsApply(b *testing.B) {
	recs := make([]events.Record, b.N)
	for i := range recs {
		id := uuidLike(i)
		recs[i] = events.Record{Event: events.AccountCreated{AccountID: id, Username: "user" + id[:8], Phone: "+8613" + id[:9], Email: id[:10] + "@example.com", ExternalID: "E" + id[:10], DisplayName: "User"}}
	}
	acc := projections.NewAccounts()
	b.ResetTimer()
	for i := range recs {
		acc.Apply(recs[i])
	}
}

func uuidLike(i int) string {
	const digits = "0123456789"
	s := []byte("00000000000000000000000000000000")
	for j := len(s) - 1; i > 0 && j >= 0; j-- {
		s[j] = digits[i%10]
		i /= 10
	}
	return string(s)
}
