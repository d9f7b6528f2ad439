package events

import (
	"encoding/json"
	"fmt"

	fastjson "github.com/goccy/go-json"

	"github.com/google/uuid"
)

// Encode builds the stored bytes of one event: its envelope with the payload
// inside, linked to the previous event of its aggregate by prevHash.
func Encode(agg Aggregate, e Event, meta Meta, prevHash string) (Envelope, []byte, error) {
	return EncodeSealed(nil, agg, e, meta, prevHash)
}

// EncodeSealed is Encode with the event's personal values sealed by s under
// the aggregate's data key (sealed.go); a nil s writes them plainly.
func EncodeSealed(s Sealer, agg Aggregate, e Event, meta Meta, prevHash string) (Envelope, []byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("events: encode %s: %w", e.EventName(), err)
	}
	if paths := personalPaths(e); s != nil && paths != nil {
		if data, err = sealData(s, KeyOwner(agg), data, paths); err != nil {
			return Envelope{}, nil, fmt.Errorf("events: encode %s: %w", e.EventName(), err)
		}
	}
	env := Envelope{
		SpecVersion:     "1.0",
		ID:              uuid.NewString(),
		Source:          Source,
		Type:            TypeName(e),
		Subject:         agg.String(),
		Time:            meta.Time.UTC(),
		DataContentType: "application/json",
		Actor:           meta.Actor,
		RequestID:       meta.RequestID,
		PrevHash:        prevHash,
		Data:            data,
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("events: encode envelope: %w", err)
	}
	return env, raw, nil
}

// DecodeRecord parses stored bytes into a Record. A type this build does not
// know leaves Event nil rather than failing, so newer history stays readable.
func DecodeRecord(reg *Registry, stream string, seq uint64, subject string, raw []byte) (Record, error) {
	return DecodeRecordOf(reg, nil, stream, seq, subject, raw)
}

// DecodeRecordOf is DecodeRecord that decodes the payload only of the types
// wanted answers true for (nil: of every type); the others' Event stays nil
// and their payload unread (a reader that reduces few types skips opening
// and decoding the rest).
func DecodeRecordOf(reg *Registry, wanted func(typ string) bool, stream string, seq uint64, subject string, raw []byte) (Record, error) {
	// Decoding is the cost of a replay: Encode's own bytes are read without
	// reflection (envelope_read.go). Anything else, and any record whose
	// payload then does not decode, is decoded by a faster, compatible
	// decoder, so that both ways answer the same.
	if reg != nil {
		rec := Record{Stream: stream, Sequence: seq, Subject: subject, Raw: raw}
		if readEnvelope(reg, raw, &rec.Envelope) {
			if wanted != nil && !wanted(rec.Envelope.Type) {
				return rec, nil
			}
			if ev, err := reg.Decode(rec.Envelope.Type, rec.Envelope.Data); err == nil {
				rec.Event = ev
				return rec, nil
			}
		}
	}
	rec := Record{Stream: stream, Sequence: seq, Subject: subject, Raw: raw}
	if err := fastjson.Unmarshal(raw, &rec.Envelope); err != nil {
		return rec, fmt.Errorf("events: %s seq %d: %w", stream, seq, err)
	}
	if reg != nil && (wanted == nil || wanted(rec.Envelope.Type)) {
		ev, err := reg.Decode(rec.Envelope.Type, rec.Envelope.Data)
		if err == nil {
			rec.Event = ev
		}
	}
	return rec, nil
}
