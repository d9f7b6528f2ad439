package qrlogin_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
)

const (
	id       = "AAAAAAAAAAAAAAAAAAAAAA"
	pollHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	alice    = "acc-alice"
	bob      = "acc-bob"
	ttl      = 300 * time.Second
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// given folds the events of a session created at t0 and then taken
// through steps: "scan" (by alice), "confirm", "consume", "cancel",
// "expire".
func given(t *testing.T, steps ...string) *qrlogin.QR {
	t.Helper()
	q := qrlogin.New(id)
	apply := func(evs []events.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("given %v: %v", steps, err)
		}
		for _, e := range evs {
			q.Apply(events.Record{Event: e, Envelope: events.Envelope{Time: t0}})
		}
	}
	apply(q.Create("demo", qrlogin.Requester{IP: "192.0.2.7", UserAgent: "Firefox", CreatedAt: t0}, pollHash, ttl))
	at := t0.Add(time.Second)
	for _, s := range steps {
		switch s {
		case "scan":
			apply(q.Scan(alice, "demo", at))
		case "confirm":
			apply(q.Confirm(alice, at))
		case "consume":
			apply(q.Consume(pollHash, alice, "sess-1", at))
		case "cancel":
			apply(q.Cancel(alice, at))
		case "expire":
			apply(q.Expire(t0.Add(ttl)), nil)
		default:
			t.Fatalf("unknown step %q", s)
		}
	}
	return q
}

func TestCreate(t *testing.T) {
	q := given(t)
	if q.Recorded() != qrlogin.Pending || q.App() != "demo" || !q.ExpiresAt().Equal(t0.Add(ttl)) {
		t.Fatalf("created: %v %q %v", q.Recorded(), q.App(), q.ExpiresAt())
	}
	if r := q.Requester(); r.IP != "192.0.2.7" || r.UserAgent != "Firefox" || !r.CreatedAt.Equal(t0) {
		t.Fatalf("requester %+v", r)
	}
	if _, err := q.Create("demo", qrlogin.Requester{CreatedAt: t0}, pollHash, ttl); !errors.Is(err, qrlogin.ErrExists) {
		t.Fatalf("create twice: %v", err)
	}
	for name, try := range map[string]func() error{
		"no app": func() error {
			_, err := qrlogin.New(id).Create("", qrlogin.Requester{CreatedAt: t0}, pollHash, ttl)
			return err
		},
		"no poll hash": func() error {
			_, err := qrlogin.New(id).Create("demo", qrlogin.Requester{CreatedAt: t0}, "", ttl)
			return err
		},
		"no time": func() error { _, err := qrlogin.New(id).Create("demo", qrlogin.Requester{}, pollHash, ttl); return err },
		"no ttl": func() error {
			_, err := qrlogin.New(id).Create("demo", qrlogin.Requester{CreatedAt: t0}, pollHash, 0)
			return err
		},
	} {
		var de *domain.Error
		if err := try(); !errors.As(err, &de) || de.Kind != domain.KindValidation {
			t.Errorf("%s: %v, want validation_failed", name, err)
		}
	}
}

// Every step in every state: the event it records, or the refusal (kind
// and code) it answers.
func TestSteps(t *testing.T) {
	in := t0.Add(10 * time.Second) // within the TTL
	late := t0.Add(ttl)            // the first instant past it
	type want struct {
		event string // event name, when the step is allowed
		code  string // refusal code otherwise
		kind  domain.Kind
	}
	ok := func(e string) want { return want{event: e} }
	refused := func(code string, kind domain.Kind) want { return want{code: code, kind: kind} }
	state := refused(qrlogin.StateCode, domain.KindConflict)
	gone := func(code string) want { return refused(code, domain.KindGone) }
	notScanner := refused("qr_not_scanner", domain.KindForbidden)

	steps := map[string]func(q *qrlogin.QR, now time.Time) ([]events.Event, error){
		"scan":           func(q *qrlogin.QR, now time.Time) ([]events.Event, error) { return q.Scan(alice, "demo", now) },
		"scan by bob":    func(q *qrlogin.QR, now time.Time) ([]events.Event, error) { return q.Scan(bob, "other", now) },
		"confirm":        func(q *qrlogin.QR, now time.Time) ([]events.Event, error) { return q.Confirm(alice, now) },
		"confirm by bob": func(q *qrlogin.QR, now time.Time) ([]events.Event, error) { return q.Confirm(bob, now) },
		"cancel":         func(q *qrlogin.QR, now time.Time) ([]events.Event, error) { return q.Cancel(alice, now) },
		"cancel by bob":  func(q *qrlogin.QR, now time.Time) ([]events.Event, error) { return q.Cancel(bob, now) },
		"consume": func(q *qrlogin.QR, now time.Time) ([]events.Event, error) {
			return q.Consume(pollHash, alice, "s2", now)
		},
		"consume wrong": func(q *qrlogin.QR, now time.Time) ([]events.Event, error) {
			return q.Consume(pollHash[1:]+"0", alice, "s2", now)
		},
		"consume for bob": func(q *qrlogin.QR, now time.Time) ([]events.Event, error) { return q.Consume(pollHash, bob, "s2", now) },
	}
	tests := []struct {
		given []string
		step  string
		at    time.Time
		want  want
	}{
		{nil, "scan", in, ok("qr_scanned")},
		{nil, "scan by bob", in, ok("qr_scanned")},
		{nil, "confirm", in, state}, // confirm before scan
		{nil, "cancel", in, state},
		{nil, "consume", in, state},
		{nil, "consume wrong", in, refused("poll_token_invalid", domain.KindForbidden)},
		{nil, "scan", late, gone("qr_expired")},
		{[]string{"scan"}, "scan", in, state}, // a step already taken
		{[]string{"scan"}, "scan by bob", in, state},
		{[]string{"scan"}, "confirm", in, ok("qr_confirmed")},
		{[]string{"scan"}, "confirm by bob", in, notScanner},
		{[]string{"scan"}, "cancel", in, ok("qr_cancelled")},
		{[]string{"scan"}, "cancel by bob", in, notScanner},
		{[]string{"scan"}, "consume", in, state},
		{[]string{"scan"}, "confirm", late, gone("qr_expired")},
		{[]string{"scan", "confirm"}, "confirm", in, state}, // double confirm
		{[]string{"scan", "confirm"}, "confirm by bob", in, notScanner},
		{[]string{"scan", "confirm"}, "cancel", in, state},
		{[]string{"scan", "confirm"}, "scan", in, state},
		{[]string{"scan", "confirm"}, "consume", in, ok("qr_consumed")},
		{[]string{"scan", "confirm"}, "consume wrong", in, refused("poll_token_invalid", domain.KindForbidden)},
		{[]string{"scan", "confirm"}, "consume for bob", in, refused("validation_failed", domain.KindValidation)},
		{[]string{"scan", "confirm"}, "consume", late, gone("qr_expired")},
		{[]string{"scan", "confirm", "consume"}, "consume", in, gone("qr_consumed")},
		{[]string{"scan", "confirm", "consume"}, "confirm", in, gone("qr_consumed")},
		{[]string{"scan", "confirm", "consume"}, "cancel", in, gone("qr_consumed")},
		{[]string{"scan", "confirm", "consume"}, "scan", late, gone("qr_consumed")},
		{[]string{"scan", "cancel"}, "confirm", in, gone("qr_cancelled")}, // confirm after cancel
		{[]string{"scan", "cancel"}, "cancel", in, gone("qr_cancelled")},
		{[]string{"scan", "cancel"}, "scan", in, gone("qr_cancelled")},
		{[]string{"scan", "cancel"}, "consume", in, gone("qr_cancelled")},
		{[]string{"expire"}, "scan", in, gone("qr_expired")},
		{[]string{"scan", "expire"}, "confirm", in, gone("qr_expired")},
		{[]string{"scan", "confirm", "expire"}, "consume", in, gone("qr_expired")},
	}
	for _, tt := range tests {
		q := given(t, tt.given...)
		before := q.Recorded()
		evs, err := steps[tt.step](q, tt.at)
		label := func() string {
			return tt.step + " after " + strings.Join(append([]string{"create"}, tt.given...), "+") + " at +" + tt.at.Sub(t0).String()
		}
		if tt.want.event != "" {
			if err != nil || len(evs) != 1 || evs[0].EventName() != tt.want.event {
				t.Errorf("%s: %v, %v; want %s", label(), evs, err, tt.want.event)
			}
			continue
		}
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != tt.want.code || de.Kind != tt.want.kind {
			t.Errorf("%s: %v; want %s (kind %d)", label(), err, tt.want.code, tt.want.kind)
			continue
		}
		if de.Code == qrlogin.StateCode && !strings.Contains(de.Message, string(before)) {
			t.Errorf("%s: message %q does not name the state %s", label(), de.Message, before)
		}
		// A step that finds an open session expired records it; any other
		// refusal records nothing.
		wantExpired := tt.want.code == "qr_expired" && !before.Final()
		if wantExpired != (len(evs) == 1 && evs[0].EventName() == "qr_expired") || (!wantExpired && len(evs) != 0) {
			t.Errorf("%s: events %v on refusal %s", label(), evs, de.Code)
		}
	}
}

func TestStateAtAndExpire(t *testing.T) {
	q := given(t, "scan")
	if s := q.StateAt(t0.Add(ttl - time.Nanosecond)); s != qrlogin.Scanned {
		t.Fatalf("just before expiry: %s", s)
	}
	if s := q.StateAt(t0.Add(ttl)); s != qrlogin.Expired {
		t.Fatalf("at expiry: %s", s)
	}
	if q.Expire(t0.Add(ttl-time.Second)) != nil {
		t.Fatal("expired early")
	}
	evs := q.Expire(t0.Add(ttl))
	if len(evs) != 1 {
		t.Fatalf("expire: %v", evs)
	}
	e := evs[0].(events.QRExpired)
	if e.State != "SCANNED" || e.QRID != id || !e.ExpiresAt.Equal(t0.Add(ttl)) {
		t.Fatalf("event %+v", e)
	}
	q.Apply(events.Record{Event: e})
	if q.Expire(t0.Add(2*ttl)) != nil || q.Recorded() != qrlogin.Expired {
		t.Fatal("expired twice")
	}
	// A final state never turns into EXPIRED.
	done := given(t, "scan", "confirm", "consume")
	if done.StateAt(t0.Add(2*ttl)) != qrlogin.Consumed || done.Expire(t0.Add(2*ttl)) != nil {
		t.Fatal("consumed session expired")
	}
	if sid := done.SessionID(); sid != "sess-1" {
		t.Fatalf("session id %q", sid)
	}
}

func TestUnknownSession(t *testing.T) {
	q := qrlogin.New(id)
	for name, err := range map[string]error{
		"scan":  second(q.Scan(alice, "demo", t0)),
		"poll":  q.CheckPollToken(pollHash),
		"taken": second(q.Confirm(alice, t0)),
	} {
		if !errors.Is(err, qrlogin.ErrNotFound) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if q.StateAt(t0.Add(time.Hour)) != "" {
		t.Fatal("unknown session has a state")
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		id: true, "abcdefghijklmnopqrstu_": true, "abcdefghijklmnopqrst-9": true,
		"": false, "short": false, "abcdefghijklmnopqrstuvw": false, "abcdefghijklmnopqrst.u": false, "abcdefghijklmnopqrst*u": false,
	} {
		if qrlogin.ValidID(s) != want {
			t.Errorf("ValidID(%q) != %v", s, want)
		}
	}
}

func second(_ []events.Event, err error) error { return err }
