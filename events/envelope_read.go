package events

import "bytes"

// readEnvelope reads stored bytes written by Encode — encoding/json's
// output of an Envelope: its fields in declaration order, compact, strings
// without escapes in the common case — without reflection, and answers
// false for anything else (a backslash in a string, another field order,
// spaces, an event written by other code), which the caller then decodes
// with the general decoder. Decoding is the cost of a replay,
// and an envelope decoded by reflection copies its payload and each string.
//
// env.Data is a sub-slice of raw (capacity cut to its length), not a copy:
// a Record keeps raw anyway.
func readEnvelope(reg *Registry, raw []byte, env *Envelope) bool {
	r := envReader{b: raw}
	var spec, id, source, typ, subject, tm, dct, actor, rid, prev []byte
	ok := r.lit(`{"specversion":`) && r.str(&spec) &&
		r.lit(`,"id":`) && r.str(&id) &&
		r.lit(`,"source":`) && r.str(&source) &&
		r.lit(`,"type":`) && r.str(&typ) &&
		r.lit(`,"subject":`) && r.str(&subject) &&
		r.lit(`,"time":`) && r.str(&tm) &&
		r.lit(`,"datacontenttype":`) && r.str(&dct) &&
		r.lit(`,"actor":`) && r.str(&actor)
	if ok && r.lit(`,"requestid":`) {
		ok = r.str(&rid)
	}
	ok = ok && r.lit(`,"prevhash":`) && r.str(&prev) && r.lit(`,"data":`)
	if !ok {
		return false
	}
	data, ok := r.rest()
	if !ok || env.Time.UnmarshalText(tm) != nil {
		return false
	}
	env.SpecVersion = known(spec, "1.0")
	env.ID = string(id)
	env.Source = known(source, Source)
	env.Type = reg.typeName(typ)
	env.Subject = string(subject)
	env.DataContentType = known(dct, "application/json")
	env.Actor = string(actor)
	env.RequestID = string(rid)
	env.PrevHash = string(prev)
	env.Data = data
	return true
}

// envReader walks stored envelope bytes.
type envReader struct {
	b []byte
	i int
}

// lit consumes s if the bytes go on with it.
func (r *envReader) lit(s string) bool {
	if len(r.b)-r.i < len(s) || string(r.b[r.i:r.i+len(s)]) != s {
		return false
	}
	r.i += len(s)
	return true
}

// str consumes a JSON string without escapes (or NUL, which the general
// decoder refuses).
func (r *envReader) str(out *[]byte) bool {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return false
	}
	n := bytes.IndexByte(r.b[r.i+1:], '"')
	if n < 0 {
		return false
	}
	s := r.b[r.i+1 : r.i+1+n]
	if bytes.IndexByte(s, '\\') >= 0 || bytes.IndexByte(s, 0) >= 0 {
		return false
	}
	*out, r.i = s, r.i+n+2
	return true
}

// rest answers the data value: from here to the envelope's closing brace,
// the last byte, an object or null. Whether it is one JSON value (and not,
// say, a value and another field) the payload's decoder finds out, and
// DecodeRecord then decodes the whole record the general way.
func (r *envReader) rest() ([]byte, bool) {
	b, start, end := r.b, r.i, len(r.b)-1
	if end <= start || b[end] != '}' || (b[start] != '{' && string(b[start:end]) != "null") {
		return nil, false
	}
	return b[start:end:end], true
}

// known answers want without allocating when b spells it.
func known(b []byte, want string) string {
	if string(b) == want {
		return want
	}
	return string(b)
}
