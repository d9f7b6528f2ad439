package events_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bindery/bindery/events"
)

// fakeSealer "seals" by base64 under the owner's name; an erased owner's
// values do not open.
type fakeSealer struct{ erased map[string]bool }

func (f fakeSealer) Prepare([]string) error { return nil }
func (f fakeSealer) Seal(owner string, pt []byte) (string, error) {
	return owner + ":" + base64.StdEncoding.EncodeToString(pt), nil
}
func (f fakeSealer) Open(tok string) ([]byte, error) {
	owner, body, _ := strings.Cut(tok, ":")
	if f.erased[owner] {
		return nil, events.ErrErased
	}
	return base64.StdEncoding.DecodeString(body)
}

func TestSealedFieldsRoundTrip(t *testing.T) {
	s := fakeSealer{erased: map[string]bool{}}
	reg := events.Catalogue()
	reg.UseSealer(s)
	agg := events.Aggregate{Type: events.AggregateAccount, ID: "a1"}
	phone := "+8613900001111"
	ev := events.AccountUpdated{AccountID: "a1", Phone: &phone, Attributes: map[string]any{"k": "v"},
		Previous: events.Identifiers{Phone: "+8613900002222"}}
	env, _, err := events.EncodeSealed(s, agg, ev, events.Meta{}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{"+86139", `"k"`} {
		if strings.Contains(string(env.Data), plain) {
			t.Fatalf("stored data holds %s: %s", plain, env.Data)
		}
	}
	if !strings.Contains(string(env.Data), `"account_id":"a1"`) || !events.IsSealed(env.Data) {
		t.Fatalf("stored data: %s", env.Data)
	}
	got, err := reg.Decode(env.Type, env.Data)
	if err != nil {
		t.Fatal(err)
	}
	u := got.(events.AccountUpdated)
	if u.Phone == nil || *u.Phone != phone || u.Previous.Phone != "+8613900002222" || u.Attributes["k"] != "v" {
		t.Fatalf("opened: %+v", u)
	}
	// Bindings inside a list are sealed one by one.
	bf := events.AttributesBackfilled{AccountID: "a1", Bindings: []events.BoundIdentity{events.NewBoundIdentity("openid", "shop", "o-secret")}}
	env2, _, err := events.EncodeSealed(s, agg, bf, events.Meta{}, "")
	if err != nil || strings.Contains(string(env2.Data), "o-secret") {
		t.Fatalf("backfill sealed: %s %v", env2.Data, err)
	}
	got2, _ := reg.Decode(env2.Type, env2.Data)
	if got2.(events.AttributesBackfilled).Bindings[0].Subject != "o-secret" {
		t.Fatalf("backfill opened: %+v", got2)
	}
	// Erased: the event still decodes, its personal fields empty.
	s.erased["account.a1"] = true
	got, err = reg.Decode(env.Type, env.Data)
	if err != nil {
		t.Fatal(err)
	}
	u = got.(events.AccountUpdated)
	if u.Phone != nil || u.Previous.Phone != "" || u.Attributes != nil || u.AccountID != "a1" {
		t.Fatalf("erased decode: %+v", u)
	}
	out, err := events.OpenEnvelope(s, mustRaw(t, env), events.ErasedMarker)
	if err != nil || !strings.Contains(string(out), `"phone":{"$erased":true}`) {
		t.Fatalf("export of an erased event: %s %v", out, err)
	}
	// History written before sealing decodes as it always did.
	old := []byte(`{"account_id":"a2","phone":"+8613900003333","display_name":"Old"}`)
	got, err = reg.Decode("bindery.account_created.v1", old)
	if err != nil || got.(events.AccountCreated).Phone != "+8613900003333" {
		t.Fatalf("old history: %+v %v", got, err)
	}
	// A tool without a sealer decodes sealed values as erased, not as errors.
	bare := events.Catalogue()
	if got, err := bare.Decode(env2.Type, env2.Data); err != nil || got.(events.AttributesBackfilled).Bindings[0].Subject != "" {
		t.Fatalf("no sealer: %+v %v", got, err)
	}
}

func mustRaw(t *testing.T, env events.Envelope) []byte {
	t.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
