package accounts_test

import (
	"context"
	"testing"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/events/memstore"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/crypto/secrets"
)

type shredLog []string

func (l *shredLog) Shred(_ context.Context, id string, _ events.Position) error {
	*l = append(*l, id)
	return nil
}

// Given an account with a username, when it is erased, then one
// account_erased is appended, the username is free for a new account, the
// key is shredded; erasing again appends nothing and shreds again; and the
// erased account refuses an update.
func TestEraseOnMemstore(t *testing.T) {
	ctx := context.Background()
	box, err := secrets.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	if _, err := store.Given(events.Aggregate{Type: events.AggregateAccount, ID: acc},
		events.AccountCreated{AccountID: acc, Username: "Ann", Phone: "+8613800000001", Source: "admin"}); err != nil {
		t.Fatal(err)
	}
	var shredded shredLog
	s := accounts.New(store, box)
	s.Shredder = &shredded
	meta := events.Meta{Actor: "test"}
	before, _ := store.Head(ctx)
	if _, err := s.Erase(ctx, meta, acc); err != nil {
		t.Fatal(err)
	}
	got := store.EventsSince(before)
	if len(got) != 1 {
		t.Fatalf("appended %+v, want one account_erased", got)
	}
	if e, ok := got[0].(events.AccountErased); !ok || e.AccountID != acc || e.Reason != "admin" {
		t.Fatalf("appended %#v", got[0])
	}
	s.NewID = func() string { return "1b0e3d4c-5a6b-4c7d-8e9f-a0b1c2d3e4f5" }
	if _, _, err := s.Create(ctx, meta, accounts.Create{Profile: account.Profile{Username: "ann", Phone: "+8613800000001"}, Source: "admin"}); err != nil {
		t.Fatalf("a new account cannot take the erased account's values: %v", err)
	}
	mid, _ := store.Head(ctx)
	if _, err := s.Erase(ctx, meta, acc); err != nil {
		t.Fatalf("second erase: %v", err)
	}
	if again := store.EventsSince(mid); len(again) != 0 {
		t.Fatalf("second erase appended %+v", again)
	}
	if len(shredded) != 2 || shredded[0] != acc || shredded[1] != acc {
		t.Fatalf("shredded %v, want the account twice", shredded)
	}
	name := "Ann again"
	if _, err := s.Update(ctx, meta, acc, accounts.Update{DisplayName: &name}); code(err) != "account_erased" {
		t.Fatalf("update of an erased account: %v", err)
	}
	if _, err := s.Erase(ctx, meta, "2b0e3d4c-5a6b-4c7d-8e9f-a0b1c2d3e4f5"); code(err) != "not_found" {
		t.Fatalf("erase of an unknown account: %v", err)
	}
}
