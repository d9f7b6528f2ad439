package projections_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/projections"
)

// A captured snapshot encodes the state at capture time even when events
// change the accounts before it is encoded: every change is copy-on-write.
func TestAccountsCaptureIsImmutable(t *testing.T) {
	const id = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	name := "Before"
	rec := func(e events.Event) events.Record {
		return events.Record{Event: e, Envelope: events.Envelope{Time: time.Unix(1700000000, 0)}}
	}
	a := projections.NewAccounts()
	a.Apply(rec(events.AccountCreated{AccountID: id, Username: "ada", DisplayName: name}))
	a.Apply(rec(events.IdentityBound{AccountID: id, BoundIdentity: events.NewBoundIdentity("openid", "demo", "o-1")}))
	a.Apply(rec(events.RoleGranted{AccountID: id, Role: "viewer"}))
	a.Apply(rec(events.OrgMemberAdded{OrgID: "sales", AccountID: id}))
	want, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	encode := a.Capture()
	renamed := "After"
	for _, e := range []events.Event{
		events.AccountUpdated{AccountID: id, DisplayName: &renamed},
		events.IdentityBound{AccountID: id, BoundIdentity: events.NewBoundIdentity("openid", "demo", "o-0")},
		events.IdentityUnbound{AccountID: id, BoundIdentity: events.NewBoundIdentity("openid", "demo", "o-1")},
		events.RoleGranted{AccountID: id, Role: "admin"},
		events.RoleRevoked{AccountID: id, Role: "viewer"},
		events.OrgMemberAdded{OrgID: "eng", AccountID: id},
		events.OrgMemberRemoved{OrgID: "sales", AccountID: id},
		events.AccountDisabled{AccountID: id},
	} {
		a.Apply(rec(e))
	}
	got, err := encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the capture changed after it was taken:\n got %s\nwant %s", got, want)
	}
	after, _ := a.Snapshot()
	if bytes.Equal(after, want) {
		t.Fatal("the events changed nothing: the test proves nothing")
	}
}
