package events_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bindery/bindery/events"
)

// fakeSealer "seals" by base64 under the owner's name; an erased owner's
// values do not open.
type fakeSealer struct{ erased map[string]bool }

func (f fakeSealer) Prepare(context.Context, []string) error { return nil }
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

// OpenData opens values in one pass over the bytes when they are written as
// the encoder writes them, and falls back to decoding the structure when
// not; both give the plaintext event's JSON.
func TestOpenDataInlineAndStructural(t *testing.T) {
	s := fakeSealer{erased: map[string]bool{}}
	agg := events.Aggregate{Type: events.AggregateAccount, ID: "a1"}
	phone, name := "+8613900001111", `Tricky {"$sealed":"x"} name`
	evs := []events.Event{
		events.AccountUpdated{AccountID: "a1", Phone: &phone, DisplayName: &name, Attributes: map[string]any{"k": []any{"v", 1.0}},
			Previous: events.Identifiers{Phone: "+8613900002222"}},
		events.AttributesBackfilled{AccountID: "a1", Bindings: []events.BoundIdentity{events.NewBoundIdentity("openid", "shop", "o-1"), events.NewBoundIdentity("unionid", "", "u-1")}},
		events.AccountCreated{AccountID: "a1", Username: "wei", Email: "wei@example.com"},
	}
	for _, ev := range evs {
		plain, _, err := events.Encode(agg, ev, events.Meta{}, "")
		if err != nil {
			t.Fatal(err)
		}
		sealed, _, err := events.EncodeSealed(s, agg, ev, events.Meta{}, "")
		if err != nil {
			t.Fatal(err)
		}
		// The same values written with spaces, as another encoder might.
		spaced := []byte(strings.ReplaceAll(string(sealed.Data), `{"$sealed":"`, `{ "$sealed" : "`))
		for _, data := range [][]byte{sealed.Data, spaced} {
			opened, erased, err := events.OpenData(s, data, events.ErasedNull)
			if err != nil || erased {
				t.Fatalf("%s: %v %v", data, err, erased)
			}
			var got, want any
			if err := json.Unmarshal(opened, &got); err != nil {
				t.Fatalf("opened %s: %v", opened, err)
			}
			_ = json.Unmarshal(plain.Data, &want)
			if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
				t.Fatalf("opened\n%s\nwant\n%s", g, w)
			}
		}
	}
	// Erased values open as the marker the caller names, on either path.
	s.erased["account.a1"] = true
	sealed, _, _ := events.EncodeSealed(s, agg, evs[0], events.Meta{}, "")
	for _, data := range [][]byte{sealed.Data, []byte(strings.ReplaceAll(string(sealed.Data), `{"$sealed":"`, `{"$sealed": "`))} {
		opened, erased, err := events.OpenData(s, data, events.ErasedMarker)
		if err != nil || !erased || !strings.Contains(string(opened), `"phone":{"$erased":true}`) || strings.Contains(string(opened), events.SealedMember) {
			t.Fatalf("erased: %s %v %v", opened, erased, err)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
