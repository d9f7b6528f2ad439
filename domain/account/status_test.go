package account_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
)

// Disable and Enable each decide one event, and nothing when the account
// is already in that state; neither applies to an unknown account.
func TestDisableEnable(t *testing.T) {
	a := existing(t)
	decide := func(f func() ([]events.Event, error), want []events.Event) {
		t.Helper()
		evs, err := f()
		if err != nil || !reflect.DeepEqual(evs, want) {
			t.Fatalf("got %#v %v, want %#v", evs, err, want)
		}
		for _, e := range evs {
			a.Apply(events.Record{Event: e})
		}
	}
	decide(a.Enable, nil)
	decide(func() ([]events.Event, error) { return a.Disable("admin") }, []events.Event{events.AccountDisabled{AccountID: "acc-1", Reason: "admin"}})
	decide(func() ([]events.Event, error) { return a.Disable("admin") }, nil)
	decide(a.Enable, []events.Event{events.AccountEnabled{AccountID: "acc-1"}})
	decide(a.Enable, nil)
	if _, err := account.New("nobody").Enable(); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("enable unknown: %v", err)
	}
}
