package projections_test

import (
	"bytes"
	"reflect"
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

	// Every event type of the view's table, not a hand list: an instance
	// with every field set and this account's id, each at a later time,
	// must change the view and never a capture taken just before it.
	for i, r := range a.Reducers() {
		e := sample(reflect.TypeOf(r.Event), id)
		before, _ := a.Snapshot()
		encode := a.Capture()
		a.Apply(events.Record{Event: e, Envelope: events.Envelope{Time: time.Unix(1700000000+int64(i)+1, 0)}})
		now, _ := a.Snapshot()
		if bytes.Equal(now, before) {
			t.Errorf("%s changed nothing: the test proves nothing for it", r.Type())
		}
		if got, err := encode(); err != nil || !bytes.Equal(got, before) {
			t.Errorf("%s changed the capture taken before it (%v):\n got %s\nwant %s", r.Type(), err, got, before)
		}
	}
}

// sample is a value of event type t with every field set (strings to
// "filled", pointers, slices and maps to one filled element) and every
// AccountID to id.
func sample(t reflect.Type, id string) events.Event {
	v := reflect.New(t).Elem()
	fillValue(v, id)
	return v.Interface().(events.Event)
}

func fillValue(v reflect.Value, id string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("filled")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Interface:
		v.Set(reflect.ValueOf("filled"))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillValue(p.Elem(), id)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillValue(s.Index(0), id)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillValue(k, id)
		fillValue(e, id)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1800000000, 0).UTC()))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				if f.Name == "AccountID" {
					v.Field(i).SetString(id)
				} else {
					fillValue(v.Field(i), id)
				}
			}
		}
	}
}
