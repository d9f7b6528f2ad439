package handlers

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/bindery/bindery/domain"
)

// FuzzBind: the strict JSON decoder of every command body never panics,
// refuses with validation_failed only, and accepts only well-formed single
// objects without a key twice (encoding/json alone keeps the last).
func FuzzBind(f *testing.F) {
	for _, s := range []string{
		`{"code":"abc"}`, `{"code":"a","code":"b"}`, `{"a":{"x":1,"x":2}}`, `{"a":[{"x":1},{"x":1}]}`,
		`{"code":"a"}{"code":"b"}`, `[]`, `null`, ` {"code":null}`, `{"code":{}}`, "\xff", `{"Code":"a","code":"b"}`,
		`{"bind_ticket":"t","channel":"sms","to":"+8613800000000"}`, `{"to":"a","otp":"1","bind_ticket":"x","extra":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var into struct {
			Code       string          `json:"code"`
			BindTicket string          `json:"bind_ticket"`
			Channel    string          `json:"channel"`
			To         string          `json:"to"`
			OTP        string          `json:"otp"`
			A          json.RawMessage `json:"a"`
		}
		err := decodeStrict(data, &into)
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindValidation || de.Code != "validation_failed" {
				t.Fatalf("%q: %v", data, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if key, dup := duplicateKey(data); dup {
			t.Fatalf("accepted %q with key %q twice", data, key)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("accepted %q, not an object: %v", data, err)
		}
	})
}
