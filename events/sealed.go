package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	fastjson "github.com/goccy/go-json"
)

// Personal data in events (SPEC §8) is stored sealed: each personal value's
// JSON is replaced, in the stored payload, by a one-member object
//
//	{"$sealed":"v1:<key owner>:<base64url of nonce|AES-256-GCM ciphertext>"}
//
// under the data key of its owner (KeyOwner: the account, or the login
// attempt before an account exists). The convention keeps every event's
// type and version: a value that is not such an object is plaintext, so
// history written before sealing decodes as it always did. Decoding opens
// each sealed value again; one whose key was erased decodes as JSON null,
// the field's zero value.

// Personal is implemented by events that carry personal values: the JSON
// paths of those members ("phone", "identity.phone", "bindings[].subject").
// A path that is absent or null in an event is skipped.
type Personal interface {
	PersonalFields() []string
}

// Sealer seals and opens personal values under data keys.
type Sealer interface {
	// Prepare makes sure the data keys of owners exist, creating the
	// missing ones (an append seals under them next).
	// ctx bounds the key reads and writes this takes.
	Prepare(ctx context.Context, owners []string) error
	// Seal encrypts the JSON of one value under owner's data key and
	// returns the token stored in its place.
	Seal(owner string, plaintext []byte) (string, error)
	// Open returns the JSON sealed in token, or an error wrapping
	// ErrErased when its data key was destroyed.
	Open(token string) ([]byte, error)
}

// ErrErased reports a sealed value whose data key is gone: its person was
// erased (or the login attempt's key expired with the auth log).
var ErrErased = errors.New("events: the data key of this value was erased")

// SealedMember is the one member of a sealed value's JSON object.
const SealedMember = "$sealed"

var sealedMarker = []byte(`"` + SealedMember + `"`)

// KeyOwner names the data key an aggregate's personal values are sealed
// under: "account.<id>", "qr.<id>", "ticket.<id>", ...
func KeyOwner(agg Aggregate) string { return agg.Type + "." + agg.ID }

// sealerBox holds a Registry's sealer (an atomic value: set once at
// start-up, read on every encode and decode).
type sealerBox struct{ s Sealer }

// UseSealer makes the registry seal personal values on encode and open them
// on decode. Without one, values are written plainly and sealed ones decode
// as erased (a tool without the master key).
func (r *Registry) UseSealer(s Sealer) { r.sealer.Store(&sealerBox{s}) }

// Sealer is the registry's sealer, nil when it has none.
func (r *Registry) Sealer() Sealer {
	if r == nil {
		return nil
	}
	if b := r.sealer.Load(); b != nil {
		return b.s
	}
	return nil
}

// IsSealed reports whether data holds at least one sealed value.
func IsSealed(data []byte) bool { return bytes.Contains(data, sealedMarker) }

// sealData replaces the personal members of one event's JSON by sealed
// values under owner's key.
func sealData(s Sealer, owner string, data []byte, paths []string) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := fastjson.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	changed := false
	for _, p := range paths {
		ok, err := sealPath(s, owner, obj, strings.Split(p, "."))
		if err != nil {
			return nil, fmt.Errorf("seal %s: %w", p, err)
		}
		changed = changed || ok
	}
	if !changed {
		return data, nil
	}
	return json.Marshal(obj)
}

func sealPath(s Sealer, owner string, obj map[string]json.RawMessage, path []string) (bool, error) {
	name, each := strings.CutSuffix(path[0], "[]")
	raw, ok := obj[name]
	if !ok || isNull(raw) {
		return false, nil
	}
	if len(path) == 1 && !each {
		tok, err := s.Seal(owner, raw)
		if err != nil {
			return false, err
		}
		obj[name] = sealedValue(tok)
		return true, nil
	}
	if each {
		var items []json.RawMessage
		if err := fastjson.Unmarshal(raw, &items); err != nil {
			return false, err
		}
		changed := false
		for i, it := range items {
			var inner map[string]json.RawMessage
			if err := fastjson.Unmarshal(it, &inner); err != nil {
				return false, err
			}
			ok, err := sealPath(s, owner, inner, path[1:])
			if err != nil {
				return false, err
			}
			if ok {
				changed = true
				if items[i], err = json.Marshal(inner); err != nil {
					return false, err
				}
			}
		}
		if changed {
			b, err := json.Marshal(items)
			if err != nil {
				return false, err
			}
			obj[name] = b
		}
		return changed, nil
	}
	var inner map[string]json.RawMessage
	if err := fastjson.Unmarshal(raw, &inner); err != nil {
		return false, err
	}
	ok, err := sealPath(s, owner, inner, path[1:])
	if err != nil || !ok {
		return false, err
	}
	b, err := json.Marshal(inner)
	if err != nil {
		return false, err
	}
	obj[name] = b
	return true, nil
}

func sealedValue(tok string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{SealedMember: tok}) // a string always marshals
	return b
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// OpenData returns data with every sealed value opened. A value whose key
// is erased (or that s is nil for) becomes erased(token): null for decoding,
// a marker for an export. erasedAny says whether one was.
func OpenData(s Sealer, data []byte, erased func(token string) json.RawMessage) (out []byte, erasedAny bool, err error) {
	if !IsSealed(data) {
		return data, false, nil
	}
	if out, erasedAny, ok, err := openInline(s, data, erased); ok || err != nil {
		return out, erasedAny, err
	}
	var v json.RawMessage = data
	opened, any, err := openValue(s, v, erased)
	return opened, any, err
}

// inlinePrefix is how sealedValue writes a sealed value's start.
var inlinePrefix = []byte(`{"` + SealedMember + `":"`)

// openInline opens every sealed value of data in one pass over its bytes,
// without decoding the structure around them: a replay opens millions.
// It relies on how sealedValue writes them, {"$sealed":"<token>"}: that
// sequence cannot stand unescaped inside a JSON string, so each match is
// a sealed value. ok is false when a value is written otherwise (spaces,
// escapes in the token: sealed by another encoder) or a marker is left
// over; the general path (openValue) then decodes the structure.
func openInline(s Sealer, data []byte, erased func(string) json.RawMessage) (out []byte, erasedAny, ok bool, err error) {
	out = make([]byte, 0, len(data))
	rest := data
	for {
		i := bytes.Index(rest, inlinePrefix)
		if i < 0 {
			break
		}
		tokStart := i + len(inlinePrefix)
		n := bytes.IndexByte(rest[tokStart:], '"')
		if n < 0 || tokStart+n+1 >= len(rest) || rest[tokStart+n+1] != '}' {
			return nil, false, false, nil
		}
		tok := rest[tokStart : tokStart+n]
		if bytes.IndexByte(tok, '\\') >= 0 {
			return nil, false, false, nil
		}
		if bytes.Contains(rest[:i], sealedMarker) {
			return nil, false, false, nil
		}
		out = append(out, rest[:i]...)
		token := string(tok)
		var pt []byte
		if s == nil {
			pt, erasedAny = erased(token), true
		} else if pt, err = s.Open(token); errors.Is(err, ErrErased) {
			pt, erasedAny, err = erased(token), true, nil
		} else if err != nil {
			return nil, false, true, err
		}
		out = append(out, pt...)
		rest = rest[tokStart+n+2:]
	}
	if bytes.Contains(rest, sealedMarker) {
		return nil, false, false, nil
	}
	return append(out, rest...), erasedAny, true, nil
}

func openValue(s Sealer, raw json.RawMessage, erased func(string) json.RawMessage) (json.RawMessage, bool, error) {
	if !IsSealed(raw) {
		return raw, false, nil
	}
	trimmed := bytes.TrimSpace(raw)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '{':
		var obj map[string]json.RawMessage
		if err := fastjson.Unmarshal(trimmed, &obj); err != nil {
			return nil, false, err
		}
		if tokRaw, ok := obj[SealedMember]; ok && len(obj) == 1 {
			var tok string
			if err := fastjson.Unmarshal(tokRaw, &tok); err != nil {
				return nil, false, err
			}
			if s == nil {
				return erased(tok), true, nil
			}
			pt, err := s.Open(tok)
			if errors.Is(err, ErrErased) {
				return erased(tok), true, nil
			}
			if err != nil {
				return nil, false, err
			}
			return pt, false, nil
		}
		anyErased := false
		for k, v := range obj {
			o, e, err := openValue(s, v, erased)
			if err != nil {
				return nil, false, err
			}
			obj[k], anyErased = o, anyErased || e
		}
		b, err := json.Marshal(obj)
		return b, anyErased, err
	case len(trimmed) > 0 && trimmed[0] == '[':
		var items []json.RawMessage
		if err := fastjson.Unmarshal(trimmed, &items); err != nil {
			return nil, false, err
		}
		anyErased := false
		for i, it := range items {
			o, e, err := openValue(s, it, erased)
			if err != nil {
				return nil, false, err
			}
			items[i], anyErased = o, anyErased || e
		}
		b, err := json.Marshal(items)
		return b, anyErased, err
	}
	return raw, false, nil
}

// erasedNull is how an erased value decodes: the field's zero value.
func erasedNull(string) json.RawMessage { return json.RawMessage("null") }

// ErasedMarker is how an export shows an erased value.
func ErasedMarker(string) json.RawMessage { return json.RawMessage(`{"$erased":true}`) }

// personalPaths are the personal members of e, nil when it has none.
func personalPaths(e Event) []string {
	if p, ok := e.(Personal); ok {
		return p.PersonalFields()
	}
	return nil
}

// OpenEnvelope returns a stored event's bytes with its data opened, the
// envelope's members in their stored order (what webhooks, the public relay
// and a person's own export carry). Erased values become erased(token).
// Unsealed bytes come back as they are.
func OpenEnvelope(s Sealer, raw []byte, erased func(string) json.RawMessage) ([]byte, error) {
	if !IsSealed(raw) {
		return raw, nil
	}
	var env Envelope
	if err := fastjson.Unmarshal(raw, &env); err != nil {
		return nil, err
	}
	data, _, err := OpenData(s, env.Data, erased)
	if err != nil {
		return nil, err
	}
	env.Data = data
	return json.Marshal(env)
}

// ErasedNull is how an erased value reaches a consumer: JSON null.
func ErasedNull(string) json.RawMessage { return json.RawMessage("null") }
