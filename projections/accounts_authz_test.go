package projections

import (
	"fmt"
	"testing"

	"github.com/bindery/bindery/events"
)

// The account read shows its roles ("role" or "role@org") and orgs, sorted.
func TestAccountReadShowsRolesAndOrgs(t *testing.T) {
	v := NewAccounts()
	seq := uint64(0)
	apply := func(evs ...events.Event) {
		for _, e := range evs {
			seq++
			v.Apply(events.Record{Sequence: seq, Event: e})
		}
	}
	apply(
		events.AccountCreated{AccountID: alice},
		events.RoleGranted{AccountID: alice, Role: "seller", Org: "sales"},
		events.RoleGranted{AccountID: alice, Role: "admin"},
		events.RoleGranted{AccountID: alice, Role: "seller"},
		events.RoleGranted{AccountID: alice, Role: "admin"}, // twice: listed once
		events.OrgMemberAdded{OrgID: "sales", AccountID: alice},
		events.OrgMemberAdded{OrgID: "hq", AccountID: alice},
		events.RoleGranted{AccountID: bob, Role: "ghost"}, // unknown account: ignored
	)
	acc, _ := v.Get(alice)
	if got := fmt.Sprint(acc.Roles, acc.Orgs); got != "[{admin } {seller } {seller sales}] [hq sales]" {
		t.Fatalf("roles and orgs: %s", got)
	}
	apply(
		events.RoleRevoked{AccountID: alice, Role: "seller", Org: "sales"},
		events.OrgMemberRemoved{OrgID: "hq", AccountID: alice},
	)
	acc, _ = v.Get(alice)
	if got := fmt.Sprint(acc.Roles, acc.Orgs); got != "[{admin } {seller }] [sales]" {
		t.Fatalf("after revoke and removal: %s", got)
	}
	snap, _ := v.Snapshot()
	w := NewAccounts()
	if err := w.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.Get(alice); fmt.Sprint(got.Roles, got.Orgs) != "[{admin } {seller }] [sales]" {
		t.Fatalf("restored: %v %v", got.Roles, got.Orgs)
	}
}
