package authz_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/authz"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/devtools/natstest"
	"github.com/bindery/bindery/projections"
)

// replicas opens n stores on one nats-server, each with its own
// connection, as n bindery replicas would.
func replicas(t *testing.T, n int) []events.Store {
	t.Helper()
	ns := natstest.Server(t, "")
	var out []events.Store
	for i := 0; i < n; i++ {
		nc := natstest.Connect(t, ns.ClientURL(), nats.MaxReconnects(-1))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := bjs.Open(ctx, nc, events.Catalogue(), bjs.Config{Timeout: 5 * time.Second})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func meta() events.Meta { return events.Meta{Actor: "test", Time: time.Now()} }

func code(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

// Two replicas moving two roots under each other at the same time: one
// move wins, the other sees it and answers org_cycle. Never both.
func TestConcurrentMovesNeverBuildACycle(t *testing.T) {
	stores := replicas(t, 2)
	r1, r2 := authz.New(stores[0]), authz.New(stores[1])
	ctx := context.Background()
	const rounds = 15
	for i := 0; i < rounds; i++ {
		a, b := fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)
		for _, id := range []string{a, b} {
			if _, _, err := r1.DefineOrg(ctx, meta(), id, "Org "+id, ""); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(2)
		go func() { defer wg.Done(); _, _, errs[0] = r1.DefineOrg(ctx, meta(), a, "Org "+a, b) }()
		go func() { defer wg.Done(); _, _, errs[1] = r2.DefineOrg(ctx, meta(), b, "Org "+b, a) }()
		wg.Wait()
		got := []string{code(errs[0]), code(errs[1])}
		if !(got[0] == "" && got[1] == "org_cycle" || got[0] == "org_cycle" && got[1] == "") {
			t.Fatalf("round %d: outcomes %q, want one success and one org_cycle", i, got)
		}
	}
	// The tree each replica decides on agrees with the org aggregates.
	for i := 0; i < rounds; i++ {
		a, b := fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)
		r1.Orgs.Forget(a)
		r1.Orgs.Forget(b)
		oa, _, _ := r1.Orgs.Get(ctx, a)
		ob, _, _ := r1.Orgs.Get(ctx, b)
		if (oa.Parent() == b) == (ob.Parent() == a) {
			t.Fatalf("round %d: a under %q, b under %q", i, oa.Parent(), ob.Parent())
		}
	}
}

// What one replica defines, another can use at once: a cached "not found"
// never outlives the fact.
func TestGrantSeesOtherReplicasWrites(t *testing.T) {
	stores := replicas(t, 2)
	r1, r2 := authz.New(stores[0]), authz.New(stores[1])
	key := make([]byte, 32)
	box, err := secrets.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	accs := accounts.New(stores[1], box)
	ctx := context.Background()
	const acc = "0b0e3d4c-5a6b-4c7d-8e9f-a0b1c2d3e4f5"

	_, _, err = r1.Grant(ctx, meta(), acc, role.Grant{Role: "viewer"})
	if code(err) != "role_not_found" {
		t.Fatalf("grant of an unknown role: %v", err)
	}
	if _, _, _, err := r2.DefineRole(ctx, meta(), "viewer", []string{"report:read"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = r1.Grant(ctx, meta(), acc, role.Grant{Role: "viewer", Org: "hq"})
	if code(err) != "org_not_found" {
		t.Fatalf("grant in an unknown org: %v", err)
	}
	if _, _, err := r2.DefineOrg(ctx, meta(), "hq", "HQ", ""); err != nil {
		t.Fatal(err)
	}
	_, _, err = r1.Grant(ctx, meta(), acc, role.Grant{Role: "viewer", Org: "hq"})
	if code(err) != "not_found" {
		t.Fatalf("grant to an unknown account: %v", err)
	}
	if _, _, err := r1.AddMember(ctx, meta(), "hq", acc); code(err) != "not_found" {
		t.Fatalf("member of an unknown account: %v", err)
	}
	accs.NewID = func() string { return acc }
	if _, _, err := accs.Create(ctx, meta(), accounts.Create{Profile: account.Profile{DisplayName: "A"}}); err != nil {
		t.Fatal(err)
	}
	created, granted, err := r1.Grant(ctx, meta(), acc, role.Grant{Role: "viewer", Org: "hq"})
	if err != nil || !created || granted.IsZero() {
		t.Fatalf("grant: %v %v %v", created, granted, err)
	}
	if added, _, err := r1.AddMember(ctx, meta(), "hq", acc); err != nil || !added {
		t.Fatalf("member: %v %v", added, err)
	}
	// Idempotent: the same grant again appends nothing, and names the
	// account's last event (the grant) as its position.
	created, pos, err := r2.Grant(ctx, meta(), acc, role.Grant{Role: "viewer", Org: "hq"})
	if err != nil || created || pos != granted {
		t.Fatalf("grant again: %v %v %v", created, pos, err)
	}
	// The account aggregate carries the grant, after the account's own events.
	h, _, err := r2.Holders.Get(ctx, acc)
	if err != nil || !h.Holds(role.Grant{Role: "viewer", Org: "hq"}) {
		t.Fatalf("holder %v %v", h, err)
	}
	if _, err := r2.Revoke(ctx, meta(), acc, role.Grant{Role: "viewer"}); code(err) != "grant_not_found" {
		t.Fatalf("revoke an unscoped grant never made: %v", err)
	}
	if _, err := r2.Revoke(ctx, meta(), acc, role.Grant{Role: "viewer", Org: "hq"}); err != nil {
		t.Fatal(err)
	}
	// The account's own commands still work after grants (they share the
	// aggregate: optimistic concurrency, not a shared cache, keeps order).
	if _, err := accs.Update(ctx, meta(), acc, accounts.Update{DisplayName: ptr("B")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r1.Grant(ctx, meta(), acc, role.Grant{Role: "viewer"}); err != nil {
		t.Fatalf("grant after an account update elsewhere: %v", err)
	}
	// A "nothing to do" answer is never taken from a cache another replica
	// outdated: r1 granted, r2 revoked, so r1's grant is new again.
	if _, err := r2.Revoke(ctx, meta(), acc, role.Grant{Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	if created, pos, err := r1.Grant(ctx, meta(), acc, role.Grant{Role: "viewer"}); err != nil || !created || pos.IsZero() {
		t.Fatalf("re-grant on a stale replica: %v %v %v", created, pos, err)
	}
	if _, err := r2.RemoveMember(ctx, meta(), "hq", acc); err != nil {
		t.Fatal(err)
	}
	if added, _, err := r1.AddMember(ctx, meta(), "hq", acc); err != nil || !added {
		t.Fatalf("re-add on a stale replica: %v %v", added, err)
	}
	if _, _, _, err := r2.DefineRole(ctx, meta(), "viewer", []string{"report:write"}); err != nil {
		t.Fatal(err)
	}
	if _, perms, pos, err := r1.DefineRole(ctx, meta(), "viewer", []string{"report:read"}); err != nil || pos.IsZero() || perms[0] != "report:read" {
		t.Fatalf("redefine on a stale replica: %v %v %v", perms, pos, err)
	}
}

func ptr(s string) *string { return &s }

// The account read model that grants and memberships fill is what id_token
// claims are made of: roles as names, scoped ones as role@org.
func TestClaimsCarryRolesAndOrgs(t *testing.T) {
	v := projections.NewAccounts()
	const acc = "0b0e3d4c-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
	for i, e := range []events.Event{
		events.AccountCreated{AccountID: acc},
		events.RoleGranted{AccountID: acc, Role: "seller", Org: "sales"},
		events.RoleGranted{AccountID: acc, Role: "admin"},
		events.OrgMemberAdded{OrgID: "sales", AccountID: acc},
	} {
		v.Apply(events.Record{Sequence: uint64(i + 1), Event: e})
	}
	a, _ := v.Get(acc)
	c := sessions.ClaimsFor(a)
	if fmt.Sprint(c.Roles, c.Orgs) != "[admin seller@sales] [sales]" {
		t.Fatalf("claims roles %v orgs %v", c.Roles, c.Orgs)
	}
}
