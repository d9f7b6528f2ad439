package account_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
)

// Erase releases every claim the account holds — its identifiers (the
// username lower-cased, as it was claimed) and each bound identity — and
// leaves an account that refuses everything but a repeated erasure.
func TestErase(t *testing.T) {
	a := account.New("acc-1")
	created, err := a.Create(account.Profile{ExternalID: "E1", Username: "Ann.B", Phone: "+8613800000001", Email: "ann@example.com", DisplayName: "Ann"}, "sealed", "admin")
	if err != nil {
		t.Fatal(err)
	}
	a.Apply(events.Record{Event: created[0]})
	wx := events.BoundIdentity{BindingID: "b1", Kind: events.BindingOpenID, App: "shop", Subject: "o-ann"}
	bound, err := a.Bind([]events.BoundIdentity{wx}, "code")
	if err != nil || len(bound) != 1 {
		t.Fatal(bound, err)
	}
	a.Apply(events.Record{Event: bound[0]})

	evs, err := a.Erase("admin")
	if err != nil || len(evs) != 1 {
		t.Fatalf("erase: %v %v", evs, err)
	}
	e, ok := evs[0].(events.AccountErased)
	if !ok || e.AccountID != "acc-1" {
		t.Fatalf("erase decided %#v", evs[0])
	}
	got := e.UniqueConstraints()
	want := []events.Constraint{
		{Kind: events.ClaimExternalID, Value: "E1", Owner: "acc-1", Release: true},
		{Kind: events.ClaimUsername, Value: "ann.b", Owner: "acc-1", Release: true},
		{Kind: events.ClaimPhone, Value: "+8613800000001", Owner: "acc-1", Release: true},
		{Kind: events.ClaimEmail, Value: "ann@example.com", Owner: "acc-1", Release: true},
		{Kind: events.BindingOpenID, Value: "shop|o-ann", Owner: "acc-1", Release: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("released %#v\nwant %#v", got, want)
	}

	a.Apply(events.Record{Event: e})
	if a.Status() != account.StatusErased || !a.Erased() || a.DisplayName() != "" || a.Identifiers() != (events.Identifiers{}) || len(a.Bindings()) != 0 || a.PasswordSealed() != "" {
		t.Fatalf("erased state keeps something: %s %q %+v %v", a.Status(), a.DisplayName(), a.Identifiers(), a.Bindings())
	}
	if again, err := a.Erase("admin"); err != nil || again != nil {
		t.Fatalf("second erase: %v %v, want nothing", again, err)
	}
	if evs, err := a.Disable("admin"); err != nil || evs != nil {
		t.Fatalf("disable erased: %v %v, want nothing", evs, err)
	}
	name := "new"
	refused := map[string]func() ([]events.Event, error){
		"update":   func() ([]events.Event, error) { return a.Update(account.Patch{DisplayName: &name}, "admin") },
		"enable":   a.Enable,
		"bind":     func() ([]events.Event, error) { return a.Bind([]events.BoundIdentity{wx}, "code") },
		"unbind":   func() ([]events.Event, error) { return a.Unbind("b1", "admin") },
		"backfill": func() ([]events.Event, error) { return a.Backfill(account.Backfill{Phone: "+8613800000002"}) },
	}
	for what, f := range refused {
		if evs, err := f(); !errors.Is(err, account.ErrErased) || evs != nil {
			t.Errorf("%s on an erased account: %v %v, want account_erased", what, evs, err)
		}
	}
	if err := a.CanLogIn(); !errors.Is(err, account.ErrErased) {
		t.Errorf("CanLogIn: %v", err)
	}
	if _, err := account.New("nobody").Erase("admin"); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("erase unknown: %v", err)
	}
}
