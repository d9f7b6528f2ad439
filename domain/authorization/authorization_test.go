package authorization_test

import (
	"errors"
	"testing"
	"time"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/events"
)

func fold(a *authorization.Authorization, evs []events.Event, err error) error {
	for _, e := range evs {
		a.Apply(events.Record{Event: e})
	}
	return err
}

// A request is recorded (a public client only with PKCE S256), granted
// once, and its code exchanged once within 60 s by its own client.
func TestAuthorizationLifecycle(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	req := authorization.Request{ClientID: "spa", App: "demo", RedirectURI: "https://a.example/cb", PublicClient: true, Scopes: []string{"openid"}}
	a := authorization.New("r1")
	if _, err := a.Record(req, now); !errors.Is(err, authorization.ErrPKCERequired) {
		t.Fatalf("public client without PKCE: %v", err)
	}
	req.CodeChallenge, req.Method = "challenge", "plain"
	if _, err := a.Record(req, now); err == nil {
		t.Fatal("plain PKCE accepted")
	}
	req.Method = "S256"
	if err := fold(a, nil, nil); err != nil || a.Exists() {
		t.Fatal("exists before record")
	}
	evs, err := a.Record(req, now)
	if err := fold(a, evs, err); err != nil || a.State() != authorization.Requested {
		t.Fatalf("record: %v %v", err, a.State())
	}
	if err := a.CheckCode(now); !errors.Is(err, authorization.ErrCodeInvalid) {
		t.Fatalf("code before grant: %v", err)
	}
	if _, err := a.Approve("acc", "sid", []string{"qr"}, now, "qr1", now.Add(authorization.RequestTTL)); !errors.Is(err, authorization.ErrExpired) {
		t.Fatalf("grant after expiry: %v", err)
	}
	evs, err = a.Approve("acc", "sid", []string{"qr"}, now, "qr1", now.Add(time.Minute))
	if err := fold(a, evs, err); err != nil || a.State() != authorization.Granted {
		t.Fatalf("grant: %v", err)
	}
	if _, err := a.Deny("access_denied", "", now); !errors.Is(err, authorization.ErrFinished) {
		t.Fatalf("deny after grant: %v", err)
	}
	if _, err := a.Exchange("spa", "t1", "", now.Add(time.Minute+authorization.CodeTTL+time.Second)); !errors.Is(err, authorization.ErrCodeInvalid) {
		t.Fatalf("exchange after 60 s: %v", err)
	}
	if _, err := a.Exchange("other", "t1", "", now.Add(time.Minute)); !errors.Is(err, authorization.ErrCodeInvalid) {
		t.Fatalf("exchange by another client: %v", err)
	}
	evs, err = a.Exchange("spa", "t1", "", now.Add(time.Minute))
	if err := fold(a, evs, err); err != nil || a.State() != authorization.Exchanged || a.TokenID() != "t1" {
		t.Fatalf("exchange: %v", err)
	}
	if _, err := a.Exchange("spa", "t2", "", now.Add(time.Minute)); !errors.Is(err, authorization.ErrCodeInvalid) {
		t.Fatalf("second exchange: %v", err)
	}
	for _, e := range evs {
		if c, ok := e.(events.CodeExchanged); !ok || c.AccountID != "acc" {
			t.Fatalf("exchange event %#v", e)
		}
	}
}

// The id_token_hint's subject wins; a login_hint names a subject only when
// it is an account id.
func TestSubjectHint(t *testing.T) {
	known := func(id string) bool { return id == "acc-1" }
	for _, tc := range []struct{ idt, hint, want string }{
		{"", "", ""},
		{"acc-2", "acc-1", "acc-2"},
		{"", "acc-1", "acc-1"},
		{"", "alice", ""},
		{"", "+8613800138000", ""},
	} {
		if got := authorization.SubjectHint(tc.idt, tc.hint, known); got != tc.want {
			t.Errorf("SubjectHint(%q, %q) = %q, want %q", tc.idt, tc.hint, got, tc.want)
		}
	}
}
