package events_test

import (
	"testing"
	"time"

	"github.com/bindery/bindery/events"
)

func BenchmarkDecodeRecord(b *testing.B) {
	reg := events.Catalogue()
	agg := events.Aggregate{Type: events.AggregateAccount, ID: "7c9e6679-7425-40de-944b-e07fc1f90ae7"}
	e := events.AccountCreated{AccountID: agg.ID, Username: "user1", Phone: "+8613000000001", Email: "user1@example.com", ExternalID: "E1", DisplayName: "User 1"}
	_, raw, err := events.Encode(agg, e, events.Meta{Actor: "admin:abc", RequestID: "r1", Time: time.Now()}, "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		rec, err := events.DecodeRecord(reg, events.StreamHistory, 1, agg.Subject(e), raw)
		if err != nil || rec.Event == nil {
			b.Fatal(err)
		}
	}
}
