package projections_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/projections"
)

func qrRecord(seq uint64, at time.Time, e events.Event) events.Record {
	return events.Record{Stream: events.StreamAuthLog, Sequence: seq, Envelope: events.Envelope{Time: at}, Event: e}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestQRSessionsView(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	v := projections.NewQRSessions()
	v.Apply(qrRecord(1, t0, events.QRCreated{QRID: "q1", App: "demo", RequesterIP: "192.0.2.7", UserAgent: "Firefox", PollTokenHash: "h1", CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}))
	v.Apply(qrRecord(2, t0, events.QRCreated{QRID: "q2", App: "demo", PollTokenHash: "h2", CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}))
	// An event of a session whose creation the view never saw is ignored.
	v.Apply(qrRecord(3, t0, events.QRScanned{QRID: "ghost", AccountID: "a"}))
	if _, ok := v.Get("ghost"); ok || v.Count() != 2 {
		t.Fatalf("ghost session created; count %d", v.Count())
	}

	q, ch, ok := v.Watch("q1")
	if !ok || q.State != projections.QRPending || q.RequesterIP != "192.0.2.7" || q.Version != 1 || closed(ch) {
		t.Fatalf("watch q1: %+v %v", q, ok)
	}
	_, ch2, _ := v.Watch("q2")
	v.Apply(qrRecord(4, t0.Add(time.Second), events.QRScanned{QRID: "q1", AccountID: "acc", ScannerApp: "demo"}))
	if !closed(ch) || closed(ch2) {
		t.Fatal("a change must wake the watchers of that session only")
	}
	steps := []struct {
		e     events.Event
		state string
	}{
		{events.QRConfirmed{QRID: "q1", AccountID: "acc"}, projections.QRConfirmed},
		{events.QRConsumed{QRID: "q1", AccountID: "acc", SessionID: "s1"}, projections.QRConsumed},
	}
	for i, st := range steps {
		v.Apply(qrRecord(uint64(5+i), t0.Add(2*time.Second), st.e))
		if q, _ := v.Get("q1"); q.State != st.state {
			t.Fatalf("after %s: %s", st.e.EventName(), q.State)
		}
	}
	q, _ = v.Get("q1")
	if q.ScannedBy != "acc" || q.ScannerApp != "demo" || q.SessionID != "s1" || q.Version != 6 || !q.UpdatedAt.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("q1: %+v", q)
	}
	if q.StateAt(t0.Add(time.Hour)) != projections.QRConsumed {
		t.Fatal("a consumed session must not turn into EXPIRED")
	}
	q2, _ := v.Get("q2")
	if q2.StateAt(t0.Add(5*time.Minute-time.Nanosecond)) != projections.QRPending || q2.StateAt(t0.Add(5*time.Minute)) != projections.QRExpired {
		t.Fatal("lazy expiry")
	}
	v.Apply(qrRecord(7, t0.Add(5*time.Minute), events.QRExpired{QRID: "q2", State: "PENDING"}))
	if q2, _ = v.Get("q2"); q2.State != projections.QRExpired || !closed(ch2) {
		t.Fatalf("q2 after qr_expired: %+v", q2)
	}
	v.Apply(qrRecord(8, t0, events.QRCreated{QRID: "q3", App: "demo", PollTokenHash: "h3", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}))
	v.Apply(qrRecord(9, t0, events.QRScanned{QRID: "q3", AccountID: "acc"}))
	v.Apply(qrRecord(10, t0, events.QRCancelled{QRID: "q3", AccountID: "acc"}))
	if q3, _ := v.Get("q3"); q3.State != projections.QRCancelled || !q3.Final() {
		t.Fatalf("q3: %+v", q3)
	}

	// Snapshots are deterministic and restore the same view.
	a, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := v.Snapshot()
	if !bytes.Equal(a, b) || bytes.Contains(a, []byte("ghost")) {
		t.Fatalf("snapshot: %s", a)
	}
	w := projections.NewQRSessions()
	if err := w.Restore(a); err != nil {
		t.Fatal(err)
	}
	c, _ := w.Snapshot()
	if !bytes.Equal(a, c) {
		t.Fatalf("restored snapshot differs:\n%s\n%s", a, c)
	}
	_, ch3, _ := w.Watch("q1")
	if err := w.Restore(nil); err != nil || w.Count() != 0 || !closed(ch3) {
		t.Fatalf("Restore(nil): count %d, watcher closed %v", w.Count(), closed(ch3))
	}
	if w.Restore([]byte("{")) == nil {
		t.Fatal("a broken snapshot restored")
	}
}

// Sessions that expired more than QRRetention ago are pruned as event time
// moves on, and their watchers woken.
func TestQRSessionsPrune(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	v := projections.NewQRSessions()
	v.Apply(qrRecord(1, t0, events.QRCreated{QRID: "old", App: "demo", PollTokenHash: "h", CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}))
	_, ch, _ := v.Watch("old")
	later := t0.Add(5*time.Minute + projections.QRRetention + time.Minute)
	v.Apply(qrRecord(2, later, events.QRCreated{QRID: "new", App: "demo", PollTokenHash: "h", CreatedAt: later, ExpiresAt: later.Add(5 * time.Minute)}))
	if _, ok := v.Get("old"); ok || !closed(ch) {
		t.Fatal("old session not pruned")
	}
	if _, ok := v.Get("new"); !ok || v.Count() != 1 {
		t.Fatal("new session lost")
	}
}
