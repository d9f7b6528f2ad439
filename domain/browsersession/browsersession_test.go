package browsersession_test

import (
	"errors"
	"testing"
	"time"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/domain/browsersession"
	"github.com/bindery/bindery/events"
)

// A session opens only with its cookie's hash, until it expires or ends.
func TestBrowserSession(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := browsersession.New("s1")
	if err := s.Check("h", now); !errors.Is(err, browsersession.ErrNoSession) {
		t.Fatalf("unknown session: %v", err)
	}
	evs, err := s.Start("acc", []string{"qr"}, now, "h")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		s.Apply(events.Record{Event: e})
	}
	if _, err := s.Start("acc", []string{"qr"}, now, "h"); err == nil {
		t.Fatal("started twice")
	}
	if err := s.Check("h", now.Add(time.Hour)); err != nil || s.AccountID() != "acc" {
		t.Fatalf("live session: %v", err)
	}
	if err := s.Check("other", now); !errors.Is(err, browsersession.ErrNoSession) {
		t.Fatalf("wrong cookie: %v", err)
	}
	if err := s.Check("h", now.Add(browsersession.TTL)); !errors.Is(err, browsersession.ErrNoSession) {
		t.Fatalf("expired: %v", err)
	}
	evs, _ = s.End("logout")
	for _, e := range evs {
		s.Apply(events.Record{Event: e})
	}
	if err := s.Check("h", now); !errors.Is(err, browsersession.ErrNoSession) {
		t.Fatalf("ended: %v", err)
	}
}

// A signed-in browser answers a request unless prompt=login, max_age has
// passed or id_token_hint names someone else.
func TestRequestReusesSession(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sixty := int64(60)
	for _, tc := range []struct {
		name string
		req  authorization.Request
		auth time.Time
		want bool
	}{
		{"plain", authorization.Request{}, now.Add(-time.Hour), true},
		{"prompt=login", authorization.Request{Prompt: []string{"login"}}, now, false},
		{"max_age passed", authorization.Request{MaxAge: &sixty}, now.Add(-2 * time.Minute), false},
		{"max_age kept", authorization.Request{MaxAge: &sixty}, now.Add(-30 * time.Second), true},
		{"hint for another", authorization.Request{HintSubject: "bob"}, now, false},
		{"hint for this one", authorization.Request{HintSubject: "acc"}, now, true},
	} {
		tc.req.ClientID, tc.req.App, tc.req.RedirectURI = "wiki", "demo", "https://a.example/cb"
		a := authorization.New("r")
		evs, err := a.Record(tc.req, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			a.Apply(events.Record{Event: e})
		}
		if got := a.Reuses("acc", tc.auth, now); got != tc.want {
			t.Errorf("%s: Reuses = %v, want %v", tc.name, got, tc.want)
		}
	}
}
