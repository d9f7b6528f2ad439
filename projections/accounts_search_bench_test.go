package projections_test

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/projections"
)

var (
	benchFirst = []string{"Ann", "Ben", "Chen", "Dana", "Eli", "Fang", "Grace", "Hui", "Ivan", "Jing", "Kai", "Li", "Mei", "Nora", "Omar", "Ping"}
	benchLast  = []string{"Lee", "Wang", "Zhang", "Liu", "Smith", "Garcia", "Kim", "Chen", "Zhao", "Huang", "Lopez", "Wu", "Brown", "Sun", "Ma", "Employee"}
)

// searchView is a view of n accounts with names from a small pool, one
// binding each, and every 100th holding role "auditor" in org "finance".
func searchView(n int) (*projections.Accounts, []string) {
	a := projections.NewAccounts()
	ids := make([]string, n)
	at := events.Envelope{Time: time.Unix(1700000000, 0)}
	for i := range n {
		id := uuid.NewString()
		ids[i] = id
		name := fmt.Sprintf("%s %s %d", benchFirst[i%len(benchFirst)], benchLast[(i/len(benchFirst))%len(benchLast)], i)
		a.Apply(events.Record{Envelope: at, Event: events.AccountCreated{AccountID: id, DisplayName: name,
			Username: fmt.Sprintf("user%d", i), Phone: fmt.Sprintf("+8613%09d", i), Email: fmt.Sprintf("user%d@example.com", i), ExternalID: fmt.Sprintf("E%d", i)}})
		a.Apply(events.Record{Envelope: at, Event: events.IdentityBound{AccountID: id, BoundIdentity: events.NewBoundIdentity("openid", "demo", "o-"+id)}})
		if i%100 == 0 {
			a.Apply(events.Record{Envelope: at, Event: events.RoleGranted{AccountID: id, Role: "auditor", Org: "finance"}})
			a.Apply(events.Record{Envelope: at, Event: events.OrgMemberAdded{OrgID: "finance", AccountID: id}})
		}
	}
	return a, ids
}

// BenchmarkAccountSearch answers searches of GET /v1/accounts from a view
// of 100k accounts (the view only: no HTTP, no JSON) and reports the p50
// and p99 of single searches, with accounts being created meanwhile in
// the "+writes" runs (BENCHMARKS.md, "Account search"):
//
//	go test -run '^$' -bench BenchmarkAccountSearch -benchtime 2000x ./projections/
func BenchmarkAccountSearch(b *testing.B) {
	const n = 100_000
	a, ids := searchView(n)
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	cases := []struct {
		name string
		q    projections.AccountQuery
	}{
		{"list-first-page", projections.AccountQuery{Limit: 50}},
		{"list-deep-page", projections.AccountQuery{Limit: 50, After: sorted[n*9/10]}},
		{"broad-prefix", projections.AccountQuery{Q: "employee", Limit: 50}},      // 1 in 16
		{"common-prefix-a", projections.AccountQuery{Q: "a", Limit: 50}},          // most names
		{"narrow-prefix", projections.AccountQuery{Q: "grace zhao 9", Limit: 50}}, // a few dozen
		{"name-deep-page", projections.AccountQuery{Q: "li", Limit: 50, After: sorted[n/2]}},
		{"phone", projections.AccountQuery{Q: "+8613000054321", Phone: "+8613000054321", Limit: 50}},
		{"email", projections.AccountQuery{Q: "user777@example.com", Limit: 50}},
		{"role-filter-1pct", projections.AccountQuery{Role: "auditor", Limit: 50}},
		{"org+prefix+status", projections.AccountQuery{Q: "ann", Org: "finance", Status: "active", Limit: 50}},
		{"no-match-filter", projections.AccountQuery{Role: "nobody", Limit: 50}}, // walks all 100k
	}
	for _, writes := range []bool{false, true} {
		for _, c := range cases {
			name := c.name
			if writes {
				name += "+writes"
			}
			b.Run(name, func(b *testing.B) {
				var stop atomic.Bool
				done := make(chan struct{})
				if writes {
					go func() { // about 2,000 creates a second, as a busy bulk sync
						defer close(done)
						at := events.Envelope{Time: time.Now()}
						for i := 0; !stop.Load(); i++ {
							a.Apply(events.Record{Envelope: at, Event: events.AccountCreated{AccountID: uuid.NewString(), DisplayName: fmt.Sprintf("New Employee %d", i)}})
							time.Sleep(500 * time.Microsecond)
						}
					}()
				} else {
					close(done)
				}
				lat := make([]time.Duration, 0, b.N)
				found := 0
				b.ResetTimer()
				for range b.N {
					t0 := time.Now()
					page, _ := a.Search(c.q)
					lat = append(lat, time.Since(t0))
					found += len(page)
				}
				b.StopTimer()
				stop.Store(true)
				<-done
				if found == 0 && c.name != "no-match-filter" {
					b.Fatalf("%s found nothing", c.name)
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			})
		}
	}
}
