package accountsync

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/internal/crypto/password"
)

func TestFieldMapParse(t *testing.T) {
	hash, err := password.HashWithParams("correct horse battery", password.CheapParams())
	if err != nil {
		t.Fatal(err)
	}
	costly := "$argon2id$v=19$m=1048576,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	m := newFieldMap(map[string]string{"empNo": "external_id", "mobile": "phone", "dept": "attributes.dept", "pwd": "password", "email": "attributes.email2"})
	s := func(v string) *string { return &v }
	cases := []struct {
		line string
		want account.SyncRecord
		hash string
		code string
	}{
		{line: `{"empNo":"E1","mobile":"+86 138-0013-8000","dept":{"id":3}}`,
			want: account.SyncRecord{ExternalID: "E1", Phone: s("+8613800138000"), Attributes: map[string]any{"dept": map[string]any{"id": 3.0}}}},
		{line: `{"empNo":1001}`, want: account.SyncRecord{ExternalID: "1001"}},
		{line: `{"empNo":"E1","display_name":"Ann","username":"Ann.Lee","avatar_url":"https://x.example/a.png"}`, // Bindery's names, unmapped
			want: account.SyncRecord{ExternalID: "E1", DisplayName: s("Ann"), Username: s("Ann.Lee"), AvatarURL: s("https://x.example/a.png")}},
		{line: `{"empNo":"E1","phone":"+8613800138000"}`, want: account.SyncRecord{ExternalID: "E1"}},                                                       // phone is mapped from mobile: "phone" is just unmapped
		{line: `{"empNo":"E1","email":"x@example.com"}`, want: account.SyncRecord{ExternalID: "E1", Attributes: map[string]any{"email2": "x@example.com"}}}, // "email" is a customer field here
		{line: `{"empNo":"E1","mobile":null,"display_name":""}`, want: account.SyncRecord{ExternalID: "E1", DisplayName: s("")}},
		{line: `{"empNo":"E1","pwd":"` + hash + `"}`, want: account.SyncRecord{ExternalID: "E1"}, hash: hash},
		{line: `{"empNo":"E1","pwd":"correct horse battery"}`, code: "invalid_password_hash"},
		{line: `{"empNo":"E1","pwd":"` + costly + `"}`, code: "invalid_password_hash"},
		{line: `{"empNo":"","mobile":"+8613800138000"}`, code: "missing_external_id"},
		{line: `{"mobile":"+8613800138000"}`, code: "missing_external_id"},
		{line: `{"empNo":true}`, code: "validation_failed"},
		{line: `{"empNo":"E1","mobile":"0800"}`, code: "validation_failed"},
		{line: `{"empNo":"E1","avatar_url":"ftp://x"}`, code: "validation_failed"},
		{line: `{"empNo":"E1"} {"empNo":"E2"}`, code: "invalid_json"},
		{line: `"E1"`, code: "invalid_json"},
		{line: `null`, code: "invalid_json"},
		{line: `{"empNo":"E1",}`, code: "invalid_json"},
	}
	for _, tc := range cases {
		rec, h, err := m.parse([]byte(tc.line))
		if tc.code != "" {
			var de *domain.Error
			if !errors.As(err, &de) || de.Code != tc.code {
				t.Errorf("parse(%s) = %v, want %s", tc.line, err, tc.code)
			}
			continue
		}
		if err != nil || h != tc.hash || !reflect.DeepEqual(rec, tc.want) {
			t.Errorf("parse(%s) =\n %+v %q %v\nwant\n %+v", tc.line, rec, h, err, tc.want)
		}
	}
	// Errors name the customer's field.
	if _, _, err := m.parse([]byte(`{"empNo":"E1","mobile":"0800"}`)); err == nil || !strings.Contains(err.Error(), `"mobile"`) {
		t.Errorf("phone error %v does not name mobile", err)
	}
}
