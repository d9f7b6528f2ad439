package authz_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/events/memstore"
	"github.com/bindery/bindery/internal/app/authz"
)

// Given these events, when this command, then these events are appended
// (or this error, and nothing is): the org and grant commands on memstore.
func TestCommandsOnMemstore(t *testing.T) {
	const acc = "0b0e3d4c-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
	org := func(id string) events.Aggregate {
		return events.Aggregate{Type: events.AggregateOrg, ID: events.OrgAggregateID(id)}
	}
	tree := events.Aggregate{Type: events.AggregateOrg, ID: events.OrgTreeID}
	hq := []struct {
		agg events.Aggregate
		evs []events.Event
	}{
		{org("hq"), []events.Event{events.OrgDefined{OrgID: "hq", Name: "HQ"}}},
		{tree, []events.Event{events.OrgPlaced{OrgID: "hq"}}},
	}
	for _, tt := range []struct {
		name  string
		given bool // hq exists (defined and placed)
		when  func(*authz.Service) error
		then  []events.Event
		code  string
	}{
		{name: "a new root org is defined and placed",
			when: func(s *authz.Service) error {
				_, _, err := s.DefineOrg(context.Background(), meta(), "hq", "HQ", "")
				return err
			},
			then: []events.Event{events.OrgDefined{OrgID: "hq", Name: "HQ"}, events.OrgPlaced{OrgID: "hq"}}},
		{name: "a child is placed under its parent", given: true,
			when: func(s *authz.Service) error {
				_, _, err := s.DefineOrg(context.Background(), meta(), "sales", "Sales", "hq")
				return err
			},
			then: []events.Event{events.OrgDefined{OrgID: "sales", Name: "Sales", Parent: "hq"}, events.OrgPlaced{OrgID: "sales", Parent: "hq"}}},
		{name: "a rename is not a placement", given: true,
			when: func(s *authz.Service) error {
				_, _, err := s.DefineOrg(context.Background(), meta(), "hq", "Head office", "")
				return err
			},
			then: []events.Event{events.OrgDefined{OrgID: "hq", Name: "Head office"}}},
		{name: "defining an org as it is appends nothing", given: true,
			when: func(s *authz.Service) error {
				_, _, err := s.DefineOrg(context.Background(), meta(), "hq", "HQ", "")
				return err
			}},
		{name: "an org under itself is a cycle", given: true,
			when: func(s *authz.Service) error {
				_, _, err := s.DefineOrg(context.Background(), meta(), "hq", "HQ", "hq")
				return err
			},
			code: "org_cycle"},
		{name: "a parent that does not exist",
			when: func(s *authz.Service) error {
				_, _, err := s.DefineOrg(context.Background(), meta(), "sales", "Sales", "hq")
				return err
			},
			code: "org_not_found"},
		{name: "a grant of an undefined role",
			when: func(s *authz.Service) error {
				_, _, err := s.Grant(context.Background(), meta(), acc, role.Grant{Role: "viewer"})
				return err
			},
			code: "role_not_found"},
		{name: "a member that is no account", given: true,
			when: func(s *authz.Service) error {
				_, _, err := s.AddMember(context.Background(), meta(), "hq", acc)
				return err
			},
			code: "not_found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := memstore.New()
			if tt.given {
				for _, g := range hq {
					if _, err := store.Given(g.agg, g.evs...); err != nil {
						t.Fatal(err)
					}
				}
			}
			before, err := store.Head(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			err = tt.when(authz.New(store))
			if got := code(err); got != tt.code {
				t.Fatalf("error %v (code %q), want code %q", err, got, tt.code)
			}
			if got := store.EventsSince(before); !reflect.DeepEqual(got, tt.then) && (len(got) > 0 || len(tt.then) > 0) {
				t.Fatalf("appended %v, want %v", got, tt.then)
			}
		})
	}
}
