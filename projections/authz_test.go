package projections

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
)

// authzFixture feeds events to a view the way the engine does.
type authzFixture struct {
	t   *testing.T
	v   *Authz
	seq uint64
}

func newAuthzFixture(t *testing.T) *authzFixture { return &authzFixture{t: t, v: NewAuthz()} }

func (f *authzFixture) apply(evs ...events.Event) *authzFixture {
	for _, e := range evs {
		f.seq++
		f.v.Apply(events.Record{Stream: events.StreamHistory, Sequence: f.seq, Event: e})
	}
	return f
}

const (
	alice = "00000000-0000-0000-0000-00000000000a"
	bob   = "00000000-0000-0000-0000-00000000000b"
)

// The tree used below:
//
//	hq
//	├── sales
//	│   └── sales-east
//	│       └── team-1
//	└── ops
func tree(f *authzFixture) *authzFixture {
	return f.apply(
		events.OrgDefined{OrgID: "hq", Name: "HQ"},
		events.OrgDefined{OrgID: "sales", Name: "Sales", Parent: "hq"},
		events.OrgDefined{OrgID: "sales-east", Name: "Sales East", Parent: "sales"},
		events.OrgDefined{OrgID: "team-1", Name: "Team 1", Parent: "sales-east"},
		events.OrgDefined{OrgID: "ops", Name: "Ops", Parent: "hq"},
	)
}

type check struct {
	account, perm, org string
	want               bool
}

func (f *authzFixture) expect(cases ...check) {
	f.t.Helper()
	for _, c := range cases {
		if got := f.v.Allowed(c.account, c.perm, c.org); got != c.want {
			f.t.Errorf("Allowed(%s, %q, org %q) = %v, want %v", c.account[len(c.account)-1:], c.perm, c.org, got, c.want)
		}
	}
}

func TestAuthzScoping(t *testing.T) {
	f := tree(newAuthzFixture(t)).apply(
		events.RoleDefined{Role: "seller", Permissions: []string{"deal:close", "deal:read"}},
		events.RoleGranted{AccountID: alice, Role: "seller", Org: "sales"},
	)
	f.expect(
		check{alice, "deal:close", "sales", true},      // the org itself
		check{alice, "deal:close", "sales-east", true}, // a child
		check{alice, "deal:read", "team-1", true},      // a grandchild
		check{alice, "deal:close", "hq", false},        // the parent
		check{alice, "deal:close", "ops", false},       // a sibling
		check{alice, "deal:close", "", false},          // no org: only unscoped grants
		check{alice, "deal:close", "nowhere", false},   // an unknown org
		check{alice, "deal:delete", "sales", false},    // a permission the role lacks
		check{bob, "deal:close", "sales", false},       // another account
		check{alice, "deal", "sales", false},           // not resource:action
		check{"unknown-account", "deal:close", "sales", false},
	)
	// An unscoped grant applies everywhere, with or without an org.
	f.apply(
		events.RoleDefined{Role: "viewer", Permissions: []string{"report:read"}},
		events.RoleGranted{AccountID: bob, Role: "viewer"},
	)
	f.expect(
		check{bob, "report:read", "", true},
		check{bob, "report:read", "hq", true},
		check{bob, "report:read", "team-1", true},
		check{bob, "report:write", "hq", false},
	)
}

func TestAuthzWildcards(t *testing.T) {
	f := tree(newAuthzFixture(t)).apply(
		events.RoleDefined{Role: "report-admin", Permissions: []string{"report:*"}},
		events.RoleDefined{Role: "reader", Permissions: []string{"*:read"}},
		events.RoleDefined{Role: "root", Permissions: []string{"*"}},
		events.RoleGranted{AccountID: alice, Role: "report-admin"},
		events.RoleGranted{AccountID: alice, Role: "reader", Org: "ops"},
		events.RoleGranted{AccountID: bob, Role: "root", Org: "sales-east"},
	)
	f.expect(
		check{alice, "report:read", "", true},
		check{alice, "report:delete", "", true},
		check{alice, "reports:read", "", false}, // the resource must match exactly
		check{alice, "invoice:read", "ops", true},
		check{alice, "invoice:read", "", false},
		check{alice, "invoice:write", "ops", false},
		check{bob, "anything:at-all", "team-1", true},
		check{bob, "anything:at-all", "sales", false},
		check{bob, "anything:at-all", "", false},
	)
}

func TestAuthzRevocationAndRedefinition(t *testing.T) {
	f := tree(newAuthzFixture(t)).apply(
		events.RoleDefined{Role: "seller", Permissions: []string{"deal:close"}},
		events.RoleGranted{AccountID: alice, Role: "seller"},
		events.RoleGranted{AccountID: alice, Role: "seller", Org: "sales"},
	)
	f.expect(check{alice, "deal:close", "", true}, check{alice, "deal:close", "team-1", true})
	// Revoking the unscoped grant leaves the scoped one.
	f.apply(events.RoleRevoked{AccountID: alice, Role: "seller"})
	f.expect(check{alice, "deal:close", "", false}, check{alice, "deal:close", "team-1", true}, check{alice, "deal:close", "ops", false})
	// Redefining the role changes what every holder may do.
	f.apply(events.RoleDefined{Role: "seller", Permissions: []string{"deal:read"}})
	f.expect(check{alice, "deal:close", "sales", false}, check{alice, "deal:read", "sales", true})
	f.apply(events.RoleRevoked{AccountID: alice, Role: "seller", Org: "sales"})
	f.expect(check{alice, "deal:read", "sales", false})
	if r, ok := f.v.Role("seller"); !ok || len(r.Permissions) != 1 {
		t.Fatalf("role %v %v", r, ok)
	}
}

func TestAuthzDisabledAccount(t *testing.T) {
	f := newAuthzFixture(t).apply(
		events.RoleDefined{Role: "viewer", Permissions: []string{"report:read"}},
		events.RoleGranted{AccountID: alice, Role: "viewer"},
		events.AccountDisabled{AccountID: alice},
	)
	f.expect(check{alice, "report:read", "", false})
	f.apply(events.AccountEnabled{AccountID: alice})
	f.expect(check{alice, "report:read", "", true})
}

func TestAuthzOrgMove(t *testing.T) {
	f := tree(newAuthzFixture(t)).apply(
		events.RoleDefined{Role: "seller", Permissions: []string{"deal:close"}},
		events.RoleGranted{AccountID: alice, Role: "seller", Org: "sales"},
	)
	f.expect(check{alice, "deal:close", "team-1", true})
	// Moving sales-east (with team-1 below it) under ops takes it out of
	// the grant's reach; the whole subtree follows.
	f.apply(events.OrgDefined{OrgID: "sales-east", Name: "Sales East", Parent: "ops"})
	f.expect(check{alice, "deal:close", "team-1", false}, check{alice, "deal:close", "sales-east", false}, check{alice, "deal:close", "sales", true})
	o, ok := f.v.Org("team-1")
	if !ok || fmt.Sprint(o.Path) != "[hq ops sales-east]" {
		t.Fatalf("team-1 %+v", o)
	}
	hq, _ := f.v.Org("hq")
	if fmt.Sprint(hq.Children) != "[ops sales]" {
		t.Fatalf("hq children %v", hq.Children)
	}
	f.apply(events.OrgMemberAdded{OrgID: "ops", AccountID: bob}, events.OrgMemberAdded{OrgID: "ops", AccountID: alice},
		events.OrgMemberRemoved{OrgID: "ops", AccountID: bob})
	if ops, _ := f.v.Org("ops"); fmt.Sprint(ops.Members) != "["+alice+"]" || fmt.Sprint(ops.Children) != "[sales-east]" {
		t.Fatalf("ops %+v", ops)
	}
}

// A snapshot restores to the same answers, and is byte-for-byte stable.
func TestAuthzSnapshotRestore(t *testing.T) {
	f := tree(newAuthzFixture(t)).apply(
		events.RoleDefined{Role: "seller", Permissions: []string{"deal:close"}},
		events.RoleDefined{Role: "root", Permissions: []string{"*"}},
		events.RoleGranted{AccountID: alice, Role: "seller", Org: "sales"},
		events.RoleGranted{AccountID: bob, Role: "root"},
		events.AccountDisabled{AccountID: bob},
		events.OrgMemberAdded{OrgID: "ops", AccountID: alice},
		events.OrgDefined{OrgID: "sales-east", Name: "Sales East", Parent: "ops"},
	)
	snap, err := f.v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := f.v.Snapshot()
	if !bytes.Equal(snap, again) {
		t.Fatal("snapshot is not deterministic")
	}
	g := &authzFixture{t: t, v: NewAuthz()}
	if err := g.v.Restore(snap); err != nil {
		t.Fatal(err)
	}
	restored, _ := g.v.Snapshot()
	if !bytes.Equal(snap, restored) {
		t.Fatalf("restored snapshot differs:\n%s\n%s", snap, restored)
	}
	cases := []check{
		{alice, "deal:close", "sales", true}, {alice, "deal:close", "team-1", false},
		{alice, "deal:close", "hq", false}, {bob, "x:y", "", false},
	}
	f.expect(cases...)
	g.expect(cases...)
	// Later events keep working on the restored view.
	g.apply(events.OrgDefined{OrgID: "sales-east", Name: "Sales East", Parent: "sales"})
	g.expect(check{alice, "deal:close", "team-1", true})
	if err := g.v.Restore(nil); err != nil {
		t.Fatal(err)
	}
	g.expect(check{alice, "deal:close", "sales", false})
	if _, ok := g.v.Org("hq"); ok {
		t.Fatal("Restore(nil) kept orgs")
	}
}

// The hot path allocates nothing.
func TestAuthzAllowedAllocatesNothing(t *testing.T) {
	f := benchView(1000, 50)
	a7, a8 := benchAccount(7), benchAccount(8)
	if !f.Allowed(a8, "res8:act0", "") || !f.Allowed(a7, "res3:act4", "org-8-2-x") {
		t.Fatal("the fixture's grants do not apply")
	}
	n := testing.AllocsPerRun(1000, func() {
		f.Allowed(a7, "res3:act2", "org-8-2-x")
		f.Allowed(a8, "res9:act9", "")
	})
	if n != 0 {
		t.Fatalf("Allowed allocates %v times per run", n)
	}
}

var (
	benchOnce   sync.Once
	benchShared *Authz
)

func benchAccount(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i) }

// benchView is a realistic view: 20 roles of 10 permissions, a tree of
// orgs four deep (fan-out orgFan at each level), accounts each holding an
// unscoped role and two scoped ones.
func benchView(accounts, orgFan int) *Authz {
	v := NewAuthz()
	seq := uint64(0)
	apply := func(e events.Event) {
		seq++
		v.Apply(events.Record{Sequence: seq, Event: e})
	}
	for r := 0; r < 20; r++ {
		var perms []string
		for p := 0; p < 10; p++ {
			perms = append(perms, fmt.Sprintf("res%d:act%d", (r+p)%15, p))
		}
		if r == 19 {
			perms = append(perms, "audit:*", "*:list")
		}
		apply(events.RoleDefined{Role: fmt.Sprintf("role-%d", r), Permissions: perms})
	}
	apply(events.OrgDefined{OrgID: "root", Name: "Root"})
	for i := 0; i < orgFan; i++ {
		apply(events.OrgDefined{OrgID: fmt.Sprintf("org-%d", i), Name: "L1", Parent: "root"})
		for j := 0; j < 5; j++ {
			apply(events.OrgDefined{OrgID: fmt.Sprintf("org-%d-%d", i, j), Name: "L2", Parent: fmt.Sprintf("org-%d", i)})
			apply(events.OrgDefined{OrgID: fmt.Sprintf("org-%d-%d-x", i, j), Name: "L3", Parent: fmt.Sprintf("org-%d-%d", i, j)})
		}
	}
	for a := 0; a < accounts; a++ {
		id := benchAccount(a)
		apply(events.RoleGranted{AccountID: id, Role: fmt.Sprintf("role-%d", a%20)})
		apply(events.RoleGranted{AccountID: id, Role: fmt.Sprintf("role-%d", (a+3)%20), Org: fmt.Sprintf("org-%d", a%orgFan)})
		apply(events.RoleGranted{AccountID: id, Role: fmt.Sprintf("role-%d", (a+7)%20), Org: fmt.Sprintf("org-%d-%d", (a+1)%orgFan, a%5)})
	}
	return v
}

// BenchmarkAuthzCheck measures Allowed in-process on a view of 100k
// accounts: a mix of unscoped, scoped (walking up a three-level chain) and
// denied checks, from all cores.
func BenchmarkAuthzCheck(b *testing.B) {
	benchOnce.Do(func() { benchShared = benchView(100_000, 50) })
	v := benchShared
	type q struct{ acc, perm, org string }
	var qs []q
	for i := 0; i < 1024; i++ {
		a := (i * 7919) % 100_000
		qs = append(qs,
			q{benchAccount(a), fmt.Sprintf("res%d:act%d", i%15, i%10), ""},
			q{benchAccount(a), fmt.Sprintf("res%d:act%d", i%15, i%10), fmt.Sprintf("org-%d-%d-x", (a+1)%50, a%5)},
			q{benchAccount(a), "nothing:here", fmt.Sprintf("org-%d-%d-x", a%50, i%5)},
		)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c := &qs[i%len(qs)]
			v.Allowed(c.acc, c.perm, c.org)
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// The compiled view agrees with the plain definition of a permission
// match (role.Permission.Covers) for any held permission and any check.
func FuzzAllowedMatchesCovers(f *testing.F) {
	for _, s := range [][2]string{
		{"report:read", "report:read"}, {"report:*", "report:write"}, {"*:read", "invoice:read"},
		{"*", "a:b"}, {"a.b:c-d", "a.b:c-d"}, {"report:read", "report:write"}, {"x", "y:z"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, held, asked string) {
		p, perr := role.ParsePermission(held)
		q, qerr := role.ParseCheck(asked)
		if perr != nil {
			return
		}
		if again, err := role.ParsePermission(p.String()); err != nil || again != p {
			t.Fatalf("%q: canonical form %q does not round-trip", held, p.String())
		}
		v := NewAuthz()
		v.Apply(events.Record{Sequence: 1, Event: events.RoleDefined{Role: "r", Permissions: []string{p.String()}}})
		v.Apply(events.Record{Sequence: 2, Event: events.RoleGranted{AccountID: alice, Role: "r"}})
		got := v.Allowed(alice, asked, "")
		if qerr != nil {
			if role.ValidCheck(asked) {
				t.Fatalf("%q: ParseCheck and ValidCheck disagree", asked)
			}
			return
		}
		if want := p.Covers(q); got != want {
			t.Fatalf("held %q, asked %q: Allowed %v, Covers %v", held, asked, got, want)
		}
	})
}
