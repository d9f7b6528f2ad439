package role

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

func TestParsePermission(t *testing.T) {
	cases := []struct {
		in   string
		want string // canonical form; "" = invalid
	}{
		{"report:read", "report:read"},
		{"report:*", "report:*"},
		{"*:read", "*:read"},
		{"*", "*"},
		{"*:*", "*"},
		{"billing.invoice:export-csv", "billing.invoice:export-csv"},
		{"r_1:a_2", "r_1:a_2"},
		{"", ""},
		{"report", ""},
		{"report:", ""},
		{":read", ""},
		{"Report:read", ""},
		{"report:read:own", ""},
		{"report:re ad", ""},
		{"rep*:read", ""},
		{"-report:read", ""},
		{"report:.read", ""},
		{strings.Repeat("a", 65) + ":read", ""},
		{"rapport:lire✓", ""},
	}
	for _, c := range cases {
		p, err := ParsePermission(c.in)
		if c.want == "" {
			var de *domain.Error
			if !errors.As(err, &de) || de.Code != "validation_failed" {
				t.Errorf("ParsePermission(%q) = %v, %v; want validation_failed", c.in, p, err)
			}
			continue
		}
		if err != nil || p.String() != c.want {
			t.Errorf("ParsePermission(%q) = %q, %v; want %q", c.in, p.String(), err, c.want)
		}
	}
}

func TestParseCheckRejectsWildcards(t *testing.T) {
	for _, s := range []string{"*", "report:*", "*:read", "report", ""} {
		if _, err := ParseCheck(s); err == nil || ValidCheck(s) {
			t.Errorf("check %q accepted", s)
		}
	}
	if p, err := ParseCheck("report:read"); err != nil || p != (Permission{"report", "read"}) || !ValidCheck("report:read") {
		t.Fatalf("report:read: %v %v", p, err)
	}
}

func TestCovers(t *testing.T) {
	q := Permission{"report", "read"}
	for held, want := range map[string]bool{
		"report:read": true, "report:*": true, "*:read": true, "*": true,
		"report:write": false, "reports:read": false, "*:write": false, "invoice:*": false,
	} {
		p, err := ParsePermission(held)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Covers(q); got != want {
			t.Errorf("%s covers report:read = %v, want %v", held, got, want)
		}
	}
}

func TestNormalizePermissions(t *testing.T) {
	got, err := NormalizePermissions([]string{"b:x", "a:y", "b:x", "*:*"})
	if err != nil || fmt.Sprint(got) != "[* a:y b:x]" {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := NormalizePermissions([]string{}); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	if _, err := NormalizePermissions(nil); err == nil {
		t.Fatal("missing permissions accepted")
	}
	many := make([]string, MaxPermissions+1)
	for i := range many {
		many[i] = fmt.Sprintf("r%d:a", i)
	}
	if _, err := NormalizePermissions(many); err == nil {
		t.Fatal("too many permissions accepted")
	}
	if _, err := NormalizePermissions([]string{"ok:ok", "bad"}); err == nil {
		t.Fatal("a bad permission accepted")
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"admin": true, "report.viewer": true, "ns:role": true, "a": true, "0-day_team": true,
		"": false, "Admin": false, "-x": false, "a b": false, "a@b": false, "a~b": false, "a*": false, "a>": false,
		strings.Repeat("a", 64): true, strings.Repeat("a", 65): false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v", name, got)
		}
	}
}

func rec(e events.Event) events.Record { return events.Record{Event: e} }

func TestRoleDefine(t *testing.T) {
	r := New("viewer")
	evs, err := r.Define([]string{"report:read"})
	if err != nil || len(evs) != 1 || evs[0].(events.RoleDefined).Role != "viewer" {
		t.Fatalf("define: %v %v", evs, err)
	}
	r.Apply(rec(evs[0]))
	if !r.Defined() || fmt.Sprint(r.Permissions()) != "[report:read]" {
		t.Fatalf("state %+v", r)
	}
	// The same set again is no change.
	if evs, _ := r.Define([]string{"report:read"}); len(evs) != 0 {
		t.Fatalf("unchanged define appended %v", evs)
	}
	// An empty set replaces the permissions.
	if evs, _ := r.Define([]string{}); len(evs) != 1 {
		t.Fatalf("emptying: %v", evs)
	}
}

func TestHolderDecisions(t *testing.T) {
	h := NewHolder("acc")
	if _, err := h.Grant(Grant{Role: "admin"}); !errors.Is(err, ErrAccountNotFound) {
		t.Fatalf("grant to a missing account: %v", err)
	}
	h.Apply(rec(events.AccountCreated{AccountID: "acc"}))
	steps := []struct {
		name   string
		do     func() ([]events.Event, error)
		events int
		err    error
	}{
		{"grant", func() ([]events.Event, error) { return h.Grant(Grant{Role: "admin"}) }, 1, nil},
		{"grant again", func() ([]events.Event, error) { return h.Grant(Grant{Role: "admin"}) }, 0, nil},
		{"grant scoped", func() ([]events.Event, error) { return h.Grant(Grant{Role: "admin", Org: "hq"}) }, 1, nil},
		{"revoke scoped", func() ([]events.Event, error) { return h.Revoke(Grant{Role: "admin", Org: "hq"}) }, 1, nil},
		{"revoke scoped again", func() ([]events.Event, error) { return h.Revoke(Grant{Role: "admin", Org: "hq"}) }, 0, ErrGrantNotFound},
		{"revoke other org", func() ([]events.Event, error) { return h.Revoke(Grant{Role: "admin", Org: "ops"}) }, 0, ErrGrantNotFound},
		{"revoke unscoped", func() ([]events.Event, error) { return h.Revoke(Grant{Role: "admin"}) }, 1, nil},
	}
	for _, s := range steps {
		evs, err := s.do()
		if len(evs) != s.events || !errors.Is(err, s.err) {
			t.Fatalf("%s: %v %v", s.name, evs, err)
		}
		for _, e := range evs {
			h.Apply(rec(e))
		}
	}
	if len(h.Grants()) != 0 {
		t.Fatalf("left %v", h.Grants())
	}
	if g := (Grant{Role: "seller", Org: "sales"}); g.String() != "seller@sales" || (Grant{Role: "x"}).String() != "x" {
		t.Fatal("grant strings")
	}
}
