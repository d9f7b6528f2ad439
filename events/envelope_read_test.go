package events

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	fastjson "github.com/goccy/go-json"
)

// envelopeSamples are stored bytes as Encode writes them.
func envelopeSamples(t testing.TB) [][]byte {
	agg := Aggregate{Type: AggregateAccount, ID: "7c9e6679-7425-40de-944b-e07fc1f90ae7"}
	at := time.Date(2026, 12, 7, 23, 40, 1, 123456789, time.UTC)
	var out [][]byte
	for _, c := range []struct {
		e    Event
		meta Meta
		prev string
	}{
		{AccountCreated{AccountID: agg.ID, Username: "u1", DisplayName: `Zoë "}{" \ 名字`, Attributes: map[string]any{"k": []any{"}", map[string]any{"x": "]"}}}}, Meta{Actor: "admin:abc", RequestID: "r1", Time: at}, ""},
		{AccountDisabled{AccountID: agg.ID}, Meta{Actor: "account:" + agg.ID, Time: at.Add(time.Hour)}, strings.Repeat("ab", 32)},
		{AccountCreated{AccountID: agg.ID}, Meta{Actor: "名前", Time: time.Time{}}, ""},
	} {
		_, raw, err := Encode(agg, c.e, c.meta, c.prev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

func TestReadEnvelopeMatchesTheDecoder(t *testing.T) {
	for _, raw := range envelopeSamples(t) {
		var fast, slow Envelope
		if !readEnvelope(Catalogue(), raw, &fast) {
			t.Fatalf("Encode's bytes not read: %s", raw)
		}
		if err := fastjson.Unmarshal(raw, &slow); err != nil {
			t.Fatal(err)
		}
		sameEnvelope(t, raw, fast, slow)
	}
}

func TestReadEnvelopeLeavesOtherBytesToTheDecoder(t *testing.T) {
	raw := envelopeSamples(t)[0]
	for name, b := range map[string]string{
		"escaped actor":      strings.Replace(string(raw), `"actor":"admin:abc"`, `"actor":"admin:\u003cabc"`, 1),
		"space after colon":  strings.Replace(string(raw), `"id":"`, `"id": "`, 1),
		"fields reordered":   strings.Replace(strings.Replace(string(raw), `"specversion":"1.0","id"`, `"id"`, 1), `"source"`, `"specversion":"1.0","source"`, 1),
		"data not an object": string(raw[:bytes.Index(raw, []byte(`"data":`))+7]) + `[1]}`,
		"cut short":          string(raw[:len(raw)-3]),
		"bad time":           strings.Replace(string(raw), `"time":"2026-12-07T23:40:01.123456789Z"`, `"time":"yesterday"`, 1),
		"NUL byte":           strings.Replace(string(raw), `"actor":"admin:abc"`, "\"actor\":\"admin:\x00abc\"", 1),
	} {
		var env Envelope
		if b == string(raw) {
			t.Fatalf("%s: the sample did not change", name)
		}
		if readEnvelope(Catalogue(), []byte(b), &env) {
			t.Errorf("%s: read by the fast reader: %s", name, b)
		}
	}
	// The general decoder still reads what the reader leaves.
	rec, err := DecodeRecord(Catalogue(), StreamHistory, 1, "x", []byte(strings.Replace(string(raw), `"id":"`, `"id": "`, 1)))
	if err != nil || rec.Event == nil || rec.Envelope.Actor != "admin:abc" {
		t.Fatalf("fallback: %v %+v", err, rec.Envelope)
	}
	// A field after data: the payload does not decode, so the record is
	// decoded the general way, which reads the field and the event.
	extra := strings.TrimSuffix(string(raw), "}") + `,"extra":1}`
	if rec, err := DecodeRecord(Catalogue(), StreamHistory, 1, "x", []byte(extra)); err != nil || rec.Event == nil || string(rec.Envelope.Data) != string(raw[bytes.Index(raw, []byte(`"data":`))+7:len(raw)-1]) {
		t.Fatalf("a field after data: %v %+v", err, rec)
	}
	// Broken JSON inside data: a record without its event, as the
	// decoder alone made it.
	broken := string(raw[:bytes.Index(raw, []byte(`"data":`))+7]) + `{"account_id":}}`
	if rec, err := DecodeRecord(Catalogue(), StreamHistory, 1, "x", []byte(broken)); err != nil || rec.Event != nil || rec.Envelope.Actor != "admin:abc" {
		t.Fatalf("broken data: %v %+v", err, rec)
	}
}

// FuzzReadEnvelope: whatever the reader takes, the decoder reads the same.
func FuzzReadEnvelope(f *testing.F) {
	for _, raw := range envelopeSamples(f) {
		f.Add(raw)
	}
	reg := Catalogue()
	f.Fuzz(func(t *testing.T, raw []byte) {
		var fast Envelope
		if !readEnvelope(reg, raw, &fast) {
			return
		}
		if !bytes.Equal(fast.Data, raw[len(raw)-1-len(fast.Data):len(raw)-1]) {
			t.Fatalf("data is not the tail of the bytes: %q", fast.Data)
		}
		// The reader does not check data: where data is one JSON value the
		// decoder must read the same envelope; where it is not, the payload's
		// decode fails and DecodeRecord decodes the general way.
		if !json.Valid(fast.Data) {
			return
		}
		var slow Envelope
		if err := fastjson.Unmarshal(raw, &slow); err != nil {
			t.Fatalf("the decoder refuses (%v) what the reader took: %q", err, raw)
		}
		sameEnvelope(t, raw, fast, slow)
	})
}

func sameEnvelope(t *testing.T, raw []byte, fast, slow Envelope) {
	t.Helper()
	if !fast.Time.Equal(slow.Time) {
		t.Fatalf("time %v, decoder %v: %s", fast.Time, slow.Time, raw)
	}
	fast.Time, slow.Time = time.Time{}, time.Time{}
	if string(fast.Data) != string(slow.Data) {
		t.Fatalf("data %s, decoder %s", fast.Data, slow.Data)
	}
	fast.Data, slow.Data = nil, nil
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("envelope %+v, decoder %+v: %s", fast, slow, raw)
	}
}

// DecodeRecordOf reads every envelope but decodes only the wanted payloads,
// on the fast path and on the general one alike.
func TestDecodeRecordOfDecodesOnlyWantedTypes(t *testing.T) {
	raw := envelopeSamples(t)[0] // an account_created
	spaced := []byte(strings.Replace(string(raw), `"id":"`, `"id": "`, 1))
	for _, b := range [][]byte{raw, spaced} {
		for _, want := range []bool{true, false} {
			rec, err := DecodeRecordOf(Catalogue(), func(typ string) bool { return want && typ == TypeName(AccountCreated{}) }, StreamHistory, 1, "x", b)
			if err != nil || rec.Envelope.Actor != "admin:abc" || (rec.Event != nil) != want {
				t.Fatalf("wanted %v: %v, event %v, envelope %+v", want, err, rec.Event, rec.Envelope)
			}
		}
	}
}
