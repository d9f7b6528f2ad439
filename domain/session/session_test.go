package session_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/events"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const ttl = 30 * 24 * time.Hour

// fold applies events as if stored at the given time.
func fold(s *session.Session, at time.Time, evs ...events.Event) {
	for _, e := range evs {
		s.Apply(events.Record{Event: e, Envelope: events.Envelope{Time: at}})
	}
}

// issued returns a family with tokens h0 (issued at t0) rotated to h1 (at
// t0+1h), h1 current.
func issued(t *testing.T) *session.Session {
	t.Helper()
	s := session.New("fam")
	evs, err := s.Issue("acc", "demo", []string{"wx"}, "h0", t0, ttl)
	if err != nil {
		t.Fatal(err)
	}
	fold(s, t0, evs...)
	if err := s.Authenticate("h0", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	fold(s, t0.Add(time.Hour), s.Rotate("h1", t0.Add(time.Hour), ttl)...)
	return s
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	live := t0.Add(2 * time.Hour)
	for _, tc := range []struct {
		name  string
		setup func(*session.Session)
		hash  string
		at    time.Time
		want  error
	}{
		{"current", nil, "h1", live, nil},
		{"rotated is reuse", nil, "h0", live, session.ErrReused},
		{"unknown", nil, "hx", live, session.ErrInvalid},
		{"empty", nil, "", live, session.ErrInvalid},
		{"expired", nil, "h1", t0.Add(time.Hour + ttl), session.ErrInvalid},
		{"revoked current", func(s *session.Session) { fold(s, live, s.Revoke(events.RevokeLogout)...) }, "h1", live, session.ErrInvalid},
		{"revoked rotated", func(s *session.Session) { fold(s, live, s.Revoke(events.RevokeLogout)...) }, "h0", live, session.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := issued(t)
			if tc.setup != nil {
				tc.setup(s)
			}
			if err := s.Authenticate(tc.hash, tc.at); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Fatalf("Authenticate(%q) = %v, want %v", tc.hash, err, tc.want)
			}
		})
	}
	if err := session.New("x").Authenticate("h", t0); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("unknown family: %v", err)
	}
}

func TestRotateKeepsFamilyFacts(t *testing.T) {
	t.Parallel()
	s := issued(t)
	evs := s.Rotate("h2", t0.Add(3*time.Hour), ttl)
	r, ok := evs[0].(events.SessionRefreshed)
	if !ok || r.PreviousHash != "h1" || r.TokenHash != "h2" || r.AccountID != "acc" || r.App != "demo" ||
		!r.AuthTime.Equal(t0) || !r.ExpiresAt.Equal(t0.Add(3*time.Hour+ttl)) || len(r.AMR) != 1 {
		t.Fatalf("refreshed = %+v", evs)
	}
	// A family whose session_issued fell out of retention still works.
	late := session.New("fam")
	fold(late, t0.Add(3*time.Hour), r)
	if err := late.Authenticate("h2", t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := late.Authenticate("h1", t0.Add(4*time.Hour)); !errors.Is(err, session.ErrReused) {
		t.Fatalf("previous token: %v", err)
	}
	if late.AccountID() != "acc" || late.App() != "demo" || !late.AuthTime().Equal(t0) {
		t.Fatal("facts lost")
	}
}

func TestDetectReuseRevokes(t *testing.T) {
	t.Parallel()
	s := issued(t)
	evs := s.DetectReuse("h0")
	if len(evs) != 2 {
		t.Fatalf("events %v", evs)
	}
	if _, ok := evs[0].(events.SessionReuseDetected); !ok {
		t.Fatalf("first %T", evs[0])
	}
	if r, ok := evs[1].(events.SessionRevoked); !ok || r.Reason != events.RevokeReuseDetected {
		t.Fatalf("second %+v", evs[1])
	}
	fold(s, t0.Add(2*time.Hour), evs...)
	if err := s.Authenticate("h1", t0.Add(2*time.Hour)); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("newest token after reuse: %v", err)
	}
	if revoked, why := s.Revoked(); !revoked || why != events.RevokeReuseDetected {
		t.Fatal("not revoked")
	}
	if evs := s.Revoke(events.RevokeLogout); evs != nil {
		t.Fatal("revoked twice")
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	live := t0.Add(2 * time.Hour)
	for _, tc := range []struct {
		name    string
		hash    string
		at      time.Time
		revoked bool
		events  int
		err     error
	}{
		{"current", "h1", live, false, 1, nil},
		{"current again", "h1", live, true, 0, nil},
		{"expired", "h1", t0.Add(2 * ttl), false, 0, nil},
		{"rotated", "h0", live, false, 2, session.ErrReused},
		{"rotated after revoke", "h0", live, true, 0, nil},
		{"unknown", "hx", live, false, 0, session.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := issued(t)
			if tc.revoked {
				fold(s, live, s.Revoke(events.RevokeLogout)...)
			}
			evs, err := s.Logout(tc.hash, tc.at)
			if len(evs) != tc.events || !errors.Is(err, tc.err) && !(err == nil && tc.err == nil) {
				t.Fatalf("Logout(%q) = %v, %v", tc.hash, evs, err)
			}
		})
	}
	if _, err := session.New("x").Logout("h", t0); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("unknown family: %v", err)
	}
}

func TestIssue(t *testing.T) {
	t.Parallel()
	s := issued(t)
	if _, err := s.Issue("acc", "demo", nil, "h9", t0, ttl); !errors.Is(err, session.ErrExists) {
		t.Fatalf("issue twice: %v", err)
	}
	if _, err := session.New("y").Issue("", "demo", nil, "h", t0, ttl); err == nil {
		t.Fatal("issue without account")
	}
}

// Rotated tokens are remembered up to MaxUsed, and forgotten once expired.
func TestUsedTokensAreBounded(t *testing.T) {
	t.Parallel()
	s := session.New("fam")
	evs, _ := s.Issue("acc", "demo", nil, "t0", t0, time.Hour)
	fold(s, t0, evs...)
	at := t0
	for i := 1; i <= session.MaxUsed+10; i++ {
		at = at.Add(time.Second)
		fold(s, at, s.Rotate(fmt.Sprintf("t%d", i), at, time.Hour)...)
	}
	if err := s.Authenticate("t0", at); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("oldest rotated token beyond the bound: %v", err)
	}
	if err := s.Authenticate(fmt.Sprintf("t%d", session.MaxUsed), at); !errors.Is(err, session.ErrReused) {
		t.Fatalf("recent rotated token: %v", err)
	}
	// An hour later every rotated token has expired and is forgotten.
	last := fmt.Sprintf("t%d", session.MaxUsed+10)
	at = at.Add(30 * time.Minute)
	fold(s, at, s.Rotate("fresh", at, time.Hour)...)
	at = at.Add(59 * time.Minute)
	fold(s, at, s.Rotate("fresher", at, time.Hour)...)
	if err := s.Authenticate(last, at); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("expired rotated token: %v", err)
	}
	if err := s.Authenticate("fresh", at); !errors.Is(err, session.ErrReused) {
		t.Fatalf("live rotated token: %v", err)
	}
}
