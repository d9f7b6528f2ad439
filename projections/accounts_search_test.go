package projections_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/projections"
)

func rec(e events.Event) events.Record {
	return events.Record{Event: e, Envelope: events.Envelope{Time: time.Unix(1700000000, 0)}}
}

func ids(accs []projections.Account) []string {
	out := []string{}
	for _, a := range accs {
		out = append(out, a.ID)
	}
	return out
}

// A search finds accounts by a prefix of any word of their display name or
// of their username, case-insensitively, and exactly by each identifier.
func TestAccountSearchByNameAndIdentifier(t *testing.T) {
	a := projections.NewAccounts()
	ada, bob, zhang := uuid.NewString(), uuid.NewString(), uuid.NewString()
	a.Apply(rec(events.AccountCreated{AccountID: ada, Username: "alovelace", DisplayName: "Ada Lovelace", Phone: "+8613800000001", Email: "ada@example.com", ExternalID: "E-1"}))
	a.Apply(rec(events.AccountCreated{AccountID: bob, Username: "bob", DisplayName: "Bob Love", Email: "bob@example.com"}))
	a.Apply(rec(events.AccountCreated{AccountID: zhang, DisplayName: "张三", ExternalID: "E-3"}))
	sorted := func(v ...string) []string { slices.Sort(v); return v }
	for _, tt := range []struct {
		q, phone string
		want     []string
	}{
		{"ada", "", []string{ada}},
		{"LOVE", "", sorted(ada, bob)},
		{"lovel", "", []string{ada}},
		{"alove", "", []string{ada}},
		{"张", "", []string{zhang}},
		{"ada@example.com", "", []string{ada}},
		{"ADA@example.com", "", []string{ada}},
		{"E-3", "", []string{zhang}},
		{"e-3", "", []string{}}, // external ids are exact
		{"13800000001", "+8613800000001", []string{ada}},
		{bob, "", []string{bob}},
		{"nobody", "", []string{}},
	} {
		got, more := a.Search(projections.AccountQuery{Q: tt.q, Phone: tt.phone, Limit: 10})
		if !slices.Equal(ids(got), tt.want) || more {
			t.Errorf("q=%q: got %v (more %v), want %v", tt.q, ids(got), more, tt.want)
		}
	}
	// A rename moves the name in the index.
	renamed := "Grace Hopper"
	a.Apply(rec(events.AccountUpdated{AccountID: ada, DisplayName: &renamed}))
	if got, _ := a.Search(projections.AccountQuery{Q: "lovel"}); len(got) != 0 {
		t.Fatalf("the old name still finds %v", ids(got))
	}
	if got, _ := a.Search(projections.AccountQuery{Q: "hop"}); !slices.Equal(ids(got), []string{ada}) {
		t.Fatalf("the new name finds %v", ids(got))
	}
}

// Filters by status, app, org and role hold together, with and without q.
func TestAccountSearchFilters(t *testing.T) {
	a := projections.NewAccounts()
	one, two, three := uuid.NewString(), uuid.NewString(), uuid.NewString()
	for _, id := range []string{one, two, three} {
		a.Apply(rec(events.AccountCreated{AccountID: id, DisplayName: "Member " + id[:4]}))
	}
	a.Apply(rec(events.IdentityBound{AccountID: one, BoundIdentity: events.NewBoundIdentity("openid", "demo", "o-1")}))
	a.Apply(rec(events.RoleGranted{AccountID: one, Role: "viewer", Org: "sales"}))
	a.Apply(rec(events.OrgMemberAdded{OrgID: "sales", AccountID: one}))
	a.Apply(rec(events.OrgMemberAdded{OrgID: "sales", AccountID: two}))
	a.Apply(rec(events.AccountDisabled{AccountID: two}))
	for _, tt := range []struct {
		q    projections.AccountQuery
		want []string
	}{
		{projections.AccountQuery{App: "demo"}, []string{one}},
		{projections.AccountQuery{Role: "viewer"}, []string{one}},
		{projections.AccountQuery{Org: "sales"}, sortedIDs(one, two)},
		{projections.AccountQuery{Org: "sales", Status: "active"}, []string{one}},
		{projections.AccountQuery{Status: "disabled"}, []string{two}},
		{projections.AccountQuery{Q: "member", Status: "active"}, sortedIDs(one, three)},
		{projections.AccountQuery{Q: "member", Org: "eng"}, []string{}},
	} {
		if got, _ := a.Search(tt.q); !slices.Equal(ids(got), tt.want) {
			t.Errorf("%+v: got %v, want %v", tt.q, ids(got), tt.want)
		}
	}
	// Revocations, removals, unbinding and enabling leave the filters.
	a.Apply(rec(events.RoleRevoked{AccountID: one, Role: "viewer", Org: "sales"}))
	a.Apply(rec(events.OrgMemberRemoved{OrgID: "sales", AccountID: two}))
	a.Apply(rec(events.IdentityUnbound{AccountID: one, BoundIdentity: events.NewBoundIdentity("openid", "demo", "o-1")}))
	a.Apply(rec(events.AccountEnabled{AccountID: two}))
	for _, q := range []projections.AccountQuery{{Role: "viewer"}, {App: "demo"}, {Status: "disabled"}, {Org: "sales", Q: "member", Status: "disabled"}} {
		if got, _ := a.Search(q); len(got) != 0 {
			t.Errorf("%+v after the changes: %v", q, ids(got))
		}
	}
	if got, _ := a.Search(projections.AccountQuery{Org: "sales"}); !slices.Equal(ids(got), []string{one}) {
		t.Errorf("org sales after removal: %v", ids(got))
	}
}

func sortedIDs(v ...string) []string { slices.Sort(v); return v }

// Paging by cursor returns every account once, in id order, with and
// without q, and a page ends with more=false exactly at the end.
func TestAccountSearchPaging(t *testing.T) {
	a := projections.NewAccounts()
	var all []string
	for i := range 2000 {
		id := uuid.NewString()
		all = append(all, id)
		a.Apply(rec(events.AccountCreated{AccountID: id, DisplayName: fmt.Sprintf("Person %d", i)}))
	}
	sort.Strings(all)
	var ones []string // "person 1…": narrow enough for the name index
	for _, id := range all {
		if acc, _ := a.Get(id); strings.HasPrefix(acc.DisplayName, "Person 1") {
			ones = append(ones, id)
		}
	}
	for q, want := range map[string][]string{"": all, "person": all, "person 1": ones} {
		var got []string
		after := ""
		for {
			page, more := a.Search(projections.AccountQuery{Q: q, After: after, Limit: 137})
			got = append(got, ids(page)...)
			if !more {
				break
			}
			after = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("q=%q: paged %d accounts, want %d in order", q, len(got), len(want))
		}
	}
	// The index survives a snapshot round trip.
	raw, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b := projections.NewAccounts()
	if err := b.Restore(raw); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Search(projections.AccountQuery{Q: "person 1999"}); len(got) != 1 {
		t.Fatalf("restored view: %d answers for the full name", len(got))
	}
	if got, _ := b.Search(projections.AccountQuery{Limit: 5000}); !slices.Equal(ids(got), all) {
		t.Fatalf("restored view lists %d accounts", len(got))
	}
}

// The block-sorted set behaves as a sorted set under random inserts and
// removals, across block splits.
func TestAccountIndexSetAgainstModel(t *testing.T) {
	a := projections.NewAccounts()
	r := rand.New(rand.NewPCG(1, 2))
	live := map[string]bool{}
	var pool []string
	for range 5000 {
		id := uuid.NewString()
		pool = append(pool, id)
		a.Apply(rec(events.AccountCreated{AccountID: id, DisplayName: fmt.Sprintf("n%04d", r.IntN(3000))}))
		live[id] = true
	}
	// Renames add and remove name tokens at random places.
	for range 5000 {
		id := pool[r.IntN(len(pool))]
		name := fmt.Sprintf("n%04d", r.IntN(3000))
		a.Apply(rec(events.AccountUpdated{AccountID: id, DisplayName: &name}))
	}
	got, _ := a.Search(projections.AccountQuery{Q: "n", Limit: 10000})
	if len(got) != len(live) {
		t.Fatalf("prefix n finds %d of %d", len(got), len(live))
	}
	for _, p := range []string{"n0", "n12", "n2999"} {
		want := 0
		for _, id := range pool {
			acc, _ := a.Get(id)
			if len(acc.DisplayName) >= len(p) && acc.DisplayName[:len(p)] == p {
				want++
			}
		}
		got, _ := a.Search(projections.AccountQuery{Q: p, Limit: 10000})
		if len(got) != want {
			t.Errorf("prefix %s: %d, want %d", p, len(got), want)
		}
	}
}
