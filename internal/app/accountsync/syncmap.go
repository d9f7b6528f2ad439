package accountsync

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/internal/crypto/password"
)

// Bindery's fields a sync line may carry (SPEC §2 account sources); the
// app's field_mapping may also name attributes.<key>.
var syncFields = []string{"external_id", "username", "display_name", "avatar_url", "phone", "email", "password"}

// Bounds on imported password hashes: every later password bind verifies
// with the hash's own parameters, so a costly one would cost every login.
const (
	maxImportedMemory  = 64 << 10 // KiB (64 MiB)
	maxImportedTime    = 16
	maxImportedThreads = 16
)

// fieldMap maps the customer's field names (one line's top-level keys) to
// Bindery's fields.
type fieldMap map[string]string

// newFieldMap is the app's field_mapping plus the identity for each of
// Bindery's own field names that the mapping neither uses as a customer
// field nor maps another field to, so a file in Bindery's names needs no
// mapping.
func newFieldMap(mapping map[string]string) fieldMap {
	m := make(fieldMap, len(mapping)+len(syncFields))
	targets := map[string]bool{}
	for from, to := range mapping {
		m[from] = to
		targets[to] = true
	}
	for _, f := range syncFields {
		if _, named := m[f]; !named && !targets[f] {
			m[f] = f
		}
	}
	return m
}

// syncLine is one parsed line: its number and the record in Bindery's
// fields, normalised. hash is the argon2id hash the line gives ("" none).
type syncLine struct {
	n    int
	rec  account.SyncRecord
	hash string
}

// lineError is a line's failure, reported as {line, code, message}.
func lineError(code, format string, args ...any) *domain.Error {
	return domain.New(domain.KindValidation, code, format, args...)
}

// parse reads one line: a JSON object in the customer's field names.
// Unmapped fields are ignored; absent and null fields are "not given".
func (m fieldMap) parse(line []byte) (account.SyncRecord, string, error) {
	var rec account.SyncRecord
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil || fields == nil {
		return rec, "", lineError("invalid_json", "the line is not a JSON object")
	}
	var hash string
	for from, raw := range fields {
		to, ok := m[from]
		if !ok || bytes.Equal(raw, []byte("null")) {
			continue
		}
		if attr, ok := strings.CutPrefix(to, "attributes."); ok {
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				return rec, "", lineError("invalid_json", "field %q: %v", from, err)
			}
			if rec.Attributes == nil {
				rec.Attributes = map[string]any{}
			}
			rec.Attributes[attr] = v
			continue
		}
		v, err := scalar(raw)
		if err != nil {
			return rec, "", domain.Invalid("%s (field %q): expected a string", to, from)
		}
		switch to {
		case "external_id":
			rec.ExternalID = v
		case "username":
			rec.Username = &v
		case "display_name":
			rec.DisplayName = &v
		case "avatar_url":
			rec.AvatarURL = &v
		case "phone":
			rec.Phone = &v
		case "email":
			rec.Email = &v
		case "password":
			hash = v
		}
	}
	if rec.ExternalID == "" {
		return rec, "", account.ErrExternalIDRequired
	}
	if err := m.normalize(&rec); err != nil {
		return rec, "", err
	}
	if hash != "" {
		p, err := password.CheckHash(hash)
		if err != nil || p.Memory > maxImportedMemory || p.Time > maxImportedTime || p.Threads > maxImportedThreads {
			return rec, "", lineError("invalid_password_hash", "password (field %q): sync takes an argon2id hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash, m ≤ 65536, t ≤ 16, p ≤ 16), never a plain password", m.source("password"))
		}
	}
	return rec, hash, nil
}

// scalar is a JSON string's value or a number's text (ids are often
// numbers in exports).
func scalar(raw json.RawMessage) (string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// normalize checks and canonicalises the given fields (phone to E.164,
// e-mail lower-cased, …), naming the customer's field in errors.
func (m fieldMap) normalize(rec *account.SyncRecord) error {
	p, err := account.Profile{
		ExternalID: rec.ExternalID, Username: deref(rec.Username), DisplayName: deref(rec.DisplayName),
		AvatarURL: deref(rec.AvatarURL), Phone: deref(rec.Phone), Email: deref(rec.Email), Attributes: rec.Attributes,
	}.Normalize()
	if err != nil {
		// Normalize's messages start with Bindery's field name.
		if de, ok := err.(*domain.Error); ok {
			field, _, _ := strings.Cut(de.Message, ":")
			if src := m.source(field); src != "" && src != field {
				return domain.New(de.Kind, de.Code, "%s (field %q)", de.Message, src)
			}
		}
		return err
	}
	set := func(dst **string, v string) {
		if *dst != nil {
			*dst = &v
		}
	}
	set(&rec.Username, p.Username)
	set(&rec.Phone, p.Phone)
	set(&rec.Email, p.Email)
	return nil
}

// source is the customer field mapped to a Bindery field.
func (m fieldMap) source(to string) string {
	for from, t := range m {
		if t == to && from != to {
			return from
		}
	}
	return m.identity(to)
}

func (m fieldMap) identity(to string) string {
	if m[to] == to {
		return to
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
