package account_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
)

func ptr(s string) *string { return &s }

// existing is an account created with a phone, a display name, one
// attribute and a password.
func existing(t *testing.T) *account.Account {
	t.Helper()
	a := account.New("acc-1")
	evs, err := a.Create(account.Profile{
		ExternalID: "E1", DisplayName: "Ann", Phone: "+8613800000001", Attributes: map[string]any{"dept": "sales"},
	}, "sealed-old", "admin")
	if err != nil {
		t.Fatal(err)
	}
	a.Apply(events.Record{Event: evs[0]})
	return a
}

func TestSyncDecisions(t *testing.T) {
	same := func(sealed string) bool { return sealed == "sealed-old" }
	cases := []struct {
		name  string
		fresh bool
		rec   account.SyncRecord
		want  events.Event // nil: no event
		errIs error
	}{
		{
			name: "creates with what the record has", fresh: true,
			rec:  account.SyncRecord{ExternalID: "E9", DisplayName: ptr("Bo"), Email: ptr("bo@example.com"), Attributes: map[string]any{"level": 3.0}, PasswordSealed: "sealed-new"},
			want: events.AccountCreated{AccountID: "acc-1", ExternalID: "E9", DisplayName: "Bo", Email: "bo@example.com", Attributes: map[string]any{"level": 3.0}, PasswordSealed: "sealed-new", Source: "sync"},
		},
		{
			name: "no attributes on creation stay nil", fresh: true,
			rec:  account.SyncRecord{ExternalID: "E9", Attributes: map[string]any{}},
			want: events.AccountCreated{AccountID: "acc-1", ExternalID: "E9", Source: "sync"},
		},
		{
			name: "same values: no event",
			rec:  account.SyncRecord{ExternalID: "E1", DisplayName: ptr("Ann"), Phone: ptr("+8613800000001"), Attributes: map[string]any{"dept": "sales"}, PasswordSealed: "sealed-other-nonce", SamePassword: same},
		},
		{
			name: "absent fields stay",
			rec:  account.SyncRecord{ExternalID: "E1"},
		},
		{
			name: "only the changed field",
			rec:  account.SyncRecord{ExternalID: "E1", DisplayName: ptr("Ann Lee"), Phone: ptr("+8613800000001")},
			want: events.AccountUpdated{AccountID: "acc-1", DisplayName: ptr("Ann Lee"), Source: "sync"},
		},
		{
			name: "a new phone releases the old one",
			rec:  account.SyncRecord{ExternalID: "E1", Phone: ptr("+8613800000002")},
			want: events.AccountUpdated{AccountID: "acc-1", Phone: ptr("+8613800000002"), Previous: events.Identifiers{Phone: "+8613800000001"}, Source: "sync"},
		},
		{
			name: "empty clears",
			rec:  account.SyncRecord{ExternalID: "E1", Phone: ptr("")},
			want: events.AccountUpdated{AccountID: "acc-1", Phone: ptr(""), Previous: events.Identifiers{Phone: "+8613800000001"}, Source: "sync"},
		},
		{
			name: "attributes merge key by key",
			rec:  account.SyncRecord{ExternalID: "E1", Attributes: map[string]any{"level": 2.0}},
			want: events.AccountUpdated{AccountID: "acc-1", Attributes: map[string]any{"dept": "sales", "level": 2.0}, Source: "sync"},
		},
		{
			name: "a different password hash",
			rec:  account.SyncRecord{ExternalID: "E1", PasswordSealed: "sealed-new", SamePassword: func(string) bool { return false }},
			want: events.AccountUpdated{AccountID: "acc-1", PasswordSealed: "sealed-new", PasswordChanged: true, Source: "sync"},
		},
		{name: "no external id", rec: account.SyncRecord{DisplayName: ptr("x")}, errIs: account.ErrExternalIDRequired},
		{name: "external id moved", rec: account.SyncRecord{ExternalID: "E2"}, errIs: account.ErrExternalIDMoved},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := account.New("acc-1")
			if !tc.fresh {
				a = existing(t)
			}
			evs, err := a.Sync(tc.rec)
			if tc.errIs != nil {
				if !errors.Is(err, tc.errIs) {
					t.Fatalf("Sync(%+v) = %v, want %v", tc.rec, err, tc.errIs)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sync(%+v): %v", tc.rec, err)
			}
			switch {
			case tc.want == nil && len(evs) != 0:
				t.Fatalf("Sync(%+v) = %+v, want no event", tc.rec, evs)
			case tc.want != nil && (len(evs) != 1 || !reflect.DeepEqual(evs[0], tc.want)):
				t.Fatalf("Sync(%+v) =\n %+v\nwant\n %+v", tc.rec, evs, tc.want)
			}
		})
	}
}

func TestSyncAttributeLimit(t *testing.T) {
	a := existing(t)
	many := map[string]any{}
	for i := range 64 {
		many[string(rune('a'+i%26))+string(rune('a'+i/26))] = i
	}
	if _, err := a.Sync(account.SyncRecord{ExternalID: "E1", Attributes: many}); err == nil {
		t.Fatal("65 attributes after the merge were accepted")
	}
}
