package org

import (
	"errors"
	"testing"

	"github.com/bindery/bindery/events"
)

type tree map[string]string

func (t tree) Parent(id string) (string, bool) {
	p, ok := t[id]
	return p, ok
}

func TestCheckPlacement(t *testing.T) {
	// hq ─ sales ─ east; hq ─ ops
	tr := tree{"hq": "", "sales": "hq", "east": "sales", "ops": "hq"}
	cases := []struct {
		id, parent string
		want       error
	}{
		{"new", "", nil},
		{"new", "east", nil},
		{"east", "ops", nil},
		{"sales", "ops", nil},
		{"new", "nowhere", ErrNotFound},
		{"hq", "hq", ErrCycle},
		{"hq", "east", ErrCycle},
		{"sales", "east", ErrCycle},
		{"ops", "east", nil},
	}
	for _, c := range cases {
		if err := CheckPlacement(tr, c.id, c.parent); !errors.Is(err, c.want) {
			t.Errorf("%s under %q: %v, want %v", c.id, c.parent, err, c.want)
		}
	}
}

func TestDefine(t *testing.T) {
	tr := tree{"hq": ""}
	o := New("sales")
	evs, placed, err := o.Define(tr, "Sales", "hq")
	if err != nil || len(placed) != 1 || len(evs) != 1 {
		t.Fatalf("create: %v %v %v", evs, placed, err)
	}
	if p, ok := placed[0].(events.OrgPlaced); !ok || p.OrgID != "sales" || p.Parent != "hq" {
		t.Fatalf("create placed %#v, want org_placed of sales under hq", placed[0])
	}
	o.Apply(events.Record{Event: evs[0]})
	tr["sales"] = "hq"
	if evs, _, _ := o.Define(tr, "Sales", "hq"); len(evs) != 0 {
		t.Fatal("unchanged define appended")
	}
	// A rename is not a placement.
	if evs, placed, err := o.Define(tr, "Sales & Co", "hq"); err != nil || placed != nil || len(evs) != 1 {
		t.Fatalf("rename: %v %v %v", evs, placed, err)
	}
	if _, _, err := o.Define(tr, "Sales", "sales"); !errors.Is(err, ErrCycle) {
		t.Fatalf("own parent: %v", err)
	}
	if _, _, err := o.Define(tr, "Sales", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown parent: %v", err)
	}
	if evs, placed, err := o.Define(tr, "Sales", ""); err != nil || len(placed) != 1 || len(evs) != 1 {
		t.Fatalf("to root: %v %v %v", evs, placed, err)
	}
}

func TestMembership(t *testing.T) {
	o := New("sales")
	if _, err := o.AddMember("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("member of a missing org: %v", err)
	}
	o.Apply(events.Record{Event: events.OrgDefined{OrgID: "sales", Name: "Sales"}})
	evs, err := o.AddMember("a")
	if err != nil || len(evs) != 1 {
		t.Fatal(evs, err)
	}
	o.Apply(events.Record{Event: evs[0]})
	if evs, _ := o.AddMember("a"); len(evs) != 0 {
		t.Fatal("second add appended")
	}
	if _, err := o.RemoveMember("b"); !errors.Is(err, ErrMemberNotFound) {
		t.Fatalf("remove non-member: %v", err)
	}
	evs, _ = o.RemoveMember("a")
	o.Apply(events.Record{Event: evs[0]})
	if o.HasMember("a") || len(o.Members()) != 0 {
		t.Fatal("still a member")
	}
}

func TestValidation(t *testing.T) {
	for _, id := range []string{"hq", "dept.sales", "c:1", "0"} {
		if ValidateID("id", id) != nil {
			t.Errorf("%q rejected", id)
		}
	}
	for _, id := range []string{"", "HQ", "_tree", "a/b", "a b", "a@b"} {
		if ValidateID("id", id) == nil {
			t.Errorf("%q accepted", id)
		}
	}
	for name, ok := range map[string]bool{"Sales": true, "": false, "a\nb": false, "销售部": true} {
		if (ValidateName(name) == nil) != ok {
			t.Errorf("name %q", name)
		}
	}
}
