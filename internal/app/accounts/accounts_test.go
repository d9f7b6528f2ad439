package accounts_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/events/memstore"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/crypto/secrets"
)

const acc = "0b0e3d4c-5a6b-4c7d-8e9f-a0b1c2d3e4f5"

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

// Given these events, when this command, then these events are appended
// (or this error, and nothing is): the account commands on memstore.
func TestCommandsOnMemstore(t *testing.T) {
	box, err := secrets.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	meta := events.Meta{Actor: "test"}
	name := func(s string) *string { return &s }
	created := events.AccountCreated{AccountID: acc, Username: "ann", DisplayName: "Ann", Source: "admin"}
	for _, tt := range []struct {
		name  string
		given []events.Event // on account/<acc>
		when  func(*accounts.Service) error
		then  []events.Event
		code  string
	}{
		{name: "create",
			when: func(s *accounts.Service) error {
				_, _, err := s.Create(ctx, meta, accounts.Create{Profile: account.Profile{Username: "ann", DisplayName: "Ann"}, Source: "admin"})
				return err
			},
			then: []events.Event{created}},
		{name: "an account nobody can find is refused",
			when: func(s *accounts.Service) error {
				_, _, err := s.Create(ctx, meta, accounts.Create{Source: "admin"})
				return err
			},
			code: "validation_failed"},
		{name: "a username another account holds", given: []events.Event{created},
			when: func(s *accounts.Service) error {
				s.NewID = func() string { return "1b0e3d4c-5a6b-4c7d-8e9f-a0b1c2d3e4f5" }
				_, _, err := s.Create(ctx, meta, accounts.Create{Profile: account.Profile{Username: "ann"}, Source: "admin"})
				return err
			},
			code: "username_taken"},
		{name: "update", given: []events.Event{created},
			when: func(s *accounts.Service) error {
				_, err := s.Update(ctx, meta, acc, accounts.Update{DisplayName: name("Ann Lee")})
				return err
			},
			then: []events.Event{events.AccountUpdated{AccountID: acc, DisplayName: name("Ann Lee"), Source: "admin"}}},
		{name: "disable", given: []events.Event{created},
			when: func(s *accounts.Service) error { _, err := s.Disable(ctx, meta, acc); return err },
			then: []events.Event{events.AccountDisabled{AccountID: acc, Reason: "admin"}}},
		{name: "disable an account that does not exist",
			when: func(s *accounts.Service) error { _, err := s.Disable(ctx, meta, acc); return err },
			code: "not_found"},
		{name: "unbind a binding the account does not have", given: []events.Event{created},
			when: func(s *accounts.Service) error { _, err := s.Unbind(ctx, meta, acc, "nope"); return err },
			code: account.ErrBindingNotFound.Code},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := memstore.New()
			if len(tt.given) > 0 {
				if _, err := store.Given(events.Aggregate{Type: events.AggregateAccount, ID: acc}, tt.given...); err != nil {
					t.Fatal(err)
				}
			}
			before, err := store.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s := accounts.New(store, box)
			s.NewID = func() string { return acc }
			err = tt.when(s)
			if got := code(err); got != tt.code {
				t.Fatalf("error %v (code %q), want code %q", err, got, tt.code)
			}
			if got := store.EventsSince(before); !reflect.DeepEqual(got, tt.then) && (len(got) > 0 || len(tt.then) > 0) {
				t.Fatalf("appended %+v, want %+v", got, tt.then)
			}
		})
	}
}

// A constructor refuses a missing dependency at wiring time.
func TestNewChecksDependencies(t *testing.T) {
	defer func() {
		if r := recover(); r != "accounts.New: box is nil" {
			t.Fatalf("recovered %v, want the missing box named", r)
		}
	}()
	accounts.New(memstore.New(), nil)
}
