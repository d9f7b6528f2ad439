package audit

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// envelopeFields is what the scans need from a stored CloudEvent. Reading
// them with a small top-level scanner instead of encoding/json keeps
// verification and export fast (the stored bytes are compact JSON written
// by events.Encode; anything else falls back to encoding/json).
type envelopeFields struct {
	ID       string
	Type     string
	Subject  string
	Time     string
	PrevHash string
	Data     []byte // raw JSON of data
}

// readEnvelope extracts the fields from the stored bytes.
func readEnvelope(raw []byte) (envelopeFields, bool) {
	var f envelopeFields
	if ok := scanTopLevel(raw, func(key, val []byte, isString bool) {
		switch string(key) {
		case "id":
			f.ID = unquote(val, isString)
		case "type":
			f.Type = unquote(val, isString)
		case "subject":
			f.Subject = unquote(val, isString)
		case "time":
			f.Time = unquote(val, isString)
		case "prevhash":
			f.PrevHash = unquote(val, isString)
		case "data":
			f.Data = val
		}
	}); ok {
		return f, true
	}
	var env struct {
		ID, Type, Subject, Time, PrevHash string
		Data                              json.RawMessage
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return f, false
	}
	return envelopeFields{env.ID, env.Type, env.Subject, env.Time, env.PrevHash, env.Data}, true
}

func unquote(val []byte, isString bool) string {
	if !isString {
		return ""
	}
	inner := val[1 : len(val)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	s, err := strconv.Unquote(string(val))
	if err != nil {
		var out string
		if json.Unmarshal(val, &out) == nil {
			return out
		}
		return ""
	}
	return s
}

// scanTopLevel calls fn for each member of the top-level JSON object in b,
// with the raw key (unquoted, escapes left alone) and raw value. It returns
// false when b is not a well-formed object as far as it can tell; it does
// not validate nested values beyond balancing them.
func scanTopLevel(b []byte, fn func(key, val []byte, isString bool)) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipWS(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		kend := endOfString(b, i)
		if kend < 0 {
			return false
		}
		key := b[i+1 : kend-1]
		i = skipWS(b, kend)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		vend := endOfValue(b, i)
		if vend < 0 {
			return false
		}
		fn(key, b[i:vend], b[i] == '"')
		i = skipWS(b, vend)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			return skipWS(b, i+1) == len(b)
		}
		if b[i] != ',' {
			return false
		}
		i = skipWS(b, i+1)
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endOfString returns the index after the closing quote of the string
// starting at b[i], or -1.
func endOfString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// endOfValue returns the index after the JSON value starting at b[i], or -1.
func endOfValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return endOfString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := endOfString(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// dataNames reports whether the event data's top-level field key holds the
// string value.
func dataNames(data []byte, key, value string) bool {
	if !bytes.Contains(data, []byte(value)) {
		return false
	}
	found := false
	scanTopLevel(data, func(k, v []byte, isString bool) {
		if !found && string(k) == key && unquote(v, isString) == value {
			found = true
		}
	})
	return found
}

// parseTime reads an RFC 3339 time as events.Encode writes it.
func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}
