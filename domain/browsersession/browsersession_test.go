package browsersession_test

import (
	"errors"
	"strings"
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
	evs, err := s.Start("acc", "wiki", []string{"qr"}, now, "h")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		s.Apply(events.Record{Event: e})
	}
	if _, err := s.Start("acc", "wiki", []string{"qr"}, now, "h"); err == nil {
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

// A session knows the web apps signed in through it, each once, and names
// them when it ends; only its own account's RP may end it by sid.
func TestBrowserSessionClients(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := browsersession.New("s1")
	if evs, err := s.Join("wiki"); err == nil || len(evs) != 0 {
		t.Fatalf("joined an unknown session: %v %v", evs, err)
	}
	apply := func(evs []events.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			s.Apply(events.Record{Event: e})
		}
	}
	apply(s.Start("acc", "wiki", []string{"qr"}, now, "h"))
	apply(s.Join("spa"))
	if evs, err := s.Join("wiki"); err != nil || len(evs) != 0 {
		t.Fatalf("a known client joined again: %v %v", evs, err)
	}
	if s.EndableBy("bob") || !s.EndableBy("acc") {
		t.Fatal("EndableBy")
	}
	evs, err := s.End("logout")
	if err != nil || len(evs) != 1 {
		t.Fatal(evs, err)
	}
	if e := evs[0].(events.BrowserSessionEnded); strings.Join(e.ClientIDs, ",") != "spa,wiki" || e.AccountID != "acc" || e.Reason != "logout" {
		t.Fatalf("ended: %+v", e)
	}
	apply(evs, nil)
	if _, err := s.End("logout"); !errors.Is(err, browsersession.ErrNoSession) || s.EndableBy("acc") {
		t.Fatalf("ended twice: %v", err)
	}
	if _, err := s.Join("x"); !errors.Is(err, browsersession.ErrNoSession) {
		t.Fatalf("joined an ended session: %v", err)
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
