package projections

import (
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/bindery/bindery/events"
)

// QR session states as the view records them (see domain/qrlogin).
const (
	QRPending   = "PENDING"
	QRScanned   = "SCANNED"
	QRConfirmed = "CONFIRMED"
	QRConsumed  = "CONSUMED"
	QRCancelled = "CANCELLED"
	QRExpired   = "EXPIRED"
)

// QRSession is the read model of one QR login: what the PC's poll and the
// scanning user's confirm screen show.
type QRSession struct {
	ID            string    `json:"id"`
	App           string    `json:"app"`
	State         string    `json:"state"` // as recorded; see StateAt
	RequesterIP   string    `json:"requester_ip"`
	UserAgent     string    `json:"user_agent,omitempty"`
	PollTokenHash string    `json:"poll_token_hash"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	ScannedBy     string    `json:"scanned_by,omitempty"` // account id
	ScannerApp    string    `json:"scanner_app,omitempty"`
	SessionID     string    `json:"session_id,omitempty"`
	// UserCodeMAC is the keyed hash of the user code of the device's
	// request the session is bound to (qr_device.go).
	UserCodeMAC string    `json:"user_code_mac,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Version is the auth-log sequence of the session's last event.
	Version uint64 `json:"version"`
}

// Final reports whether the recorded state is one nothing follows.
func (q QRSession) Final() bool {
	return q.State == QRConsumed || q.State == QRCancelled || q.State == QRExpired
}

// StateAt is the state at now: an open session past its expiry is
// EXPIRED even before a qr_expired event records it (expiry is lazy).
func (q QRSession) StateAt(now time.Time) string {
	if !q.Final() && !now.Before(q.ExpiresAt) {
		return QRExpired
	}
	return q.State
}

// QRRetention is how long the view keeps a session after its expiry time;
// older ones are pruned (their events stay in the auth log).
const QRRetention = time.Hour

// QRSessions is the view of QR login sessions by id, with a change signal
// per session for long-polls.
type QRSessions struct {
	mu       sync.RWMutex
	byID     map[string]*QRSession
	byCode   map[string]string // user code MAC → QR id (qr_device.go)
	watch    map[string]chan struct{}
	lastTime time.Time // latest event time seen (decides pruning, deterministically)
	pruned   time.Time
	apply    Dispatch // the view's own table, for Apply
}

// NewQRSessions returns an empty view.
func NewQRSessions() *QRSessions {
	q := &QRSessions{}
	q.reset()
	q.apply = NewDispatch(q)
	return q
}

func (v *QRSessions) reset() {
	for _, ch := range v.watch {
		close(ch)
	}
	v.byID = map[string]*QRSession{}
	v.byCode = map[string]string{}
	v.watch = map[string]chan struct{}{}
	v.lastTime, v.pruned = time.Time{}, time.Time{}
}

// Name implements Projection.
func (v *QRSessions) Name() string { return "qr_sessions" }

// Reducers implements Projection: the QR session view's table.
func (v *QRSessions) Reducers() []Reducer {
	return guarded(&v.mu,
		On(func(e events.QRCreated, r events.Record) {
			v.change(e.QRID, r, func(q *QRSession) {
				q.State, q.RequesterIP, q.UserAgent, q.PollTokenHash = QRPending, e.RequesterIP, e.UserAgent, e.PollTokenHash
				q.CreatedAt, q.ExpiresAt = e.CreatedAt, e.ExpiresAt
			})
		}),
		On(func(e events.QRScanned, r events.Record) {
			v.change(e.QRID, r, func(q *QRSession) { q.State, q.ScannedBy, q.ScannerApp = QRScanned, e.AccountID, e.ScannerApp })
		}),
		On(func(e events.QRConfirmed, r events.Record) {
			v.change(e.QRID, r, func(q *QRSession) { q.State = QRConfirmed })
		}),
		On(func(e events.QRConsumed, r events.Record) {
			v.change(e.QRID, r, func(q *QRSession) { q.State, q.SessionID = QRConsumed, e.SessionID })
		}),
		On(func(e events.QRCancelled, r events.Record) {
			v.change(e.QRID, r, func(q *QRSession) { q.State = QRCancelled })
		}),
		On(func(e events.QRExpired, r events.Record) {
			v.change(e.QRID, r, func(q *QRSession) { q.State = QRExpired })
		}),
		On(v.deviceRequested),
	)
}

// Apply reduces one record into the view (through its table).
func (v *QRSessions) Apply(r events.Record) { v.apply.Apply(r) }

// change applies one event to session id (made by its qr_created), wakes
// whoever watches it, and prunes now and then. Callers hold v.mu.
func (v *QRSessions) change(id string, r events.Record, apply func(*QRSession)) {
	at := r.Envelope.Time
	q := v.byID[id]
	if q == nil {
		c, ok := r.Event.(events.QRCreated)
		if !ok {
			return // its creation fell out of the auth log's retention
		}
		q = &QRSession{ID: id, App: c.App}
		v.byID[id] = q
	}
	apply(q)
	q.UpdatedAt, q.Version = at, r.Sequence
	if ch, ok := v.watch[id]; ok {
		close(ch)
		delete(v.watch, id)
	}
	if at.After(v.lastTime) {
		v.lastTime = at
	}
	if v.lastTime.Sub(v.pruned) >= time.Minute {
		v.prune()
	}
}

// prune forgets sessions that expired more than QRRetention before the
// latest event time. Held: v.mu.
func (v *QRSessions) prune() {
	v.pruned = v.lastTime
	cut := v.lastTime.Add(-QRRetention)
	for id, q := range v.byID {
		if q.ExpiresAt.Before(cut) {
			delete(v.byID, id)
			v.forgetCode(q)
			if ch, ok := v.watch[id]; ok {
				close(ch)
				delete(v.watch, id)
			}
		}
	}
}

// Get returns a copy of the session, or false.
func (v *QRSessions) Get(id string) (QRSession, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	q, ok := v.byID[id]
	if !ok {
		return QRSession{}, false
	}
	return *q, true
}

// Watch returns the session as the view holds it now and a channel closed
// at its next change (or when the view forgets it). The channel is nil
// when the view does not know the session.
func (v *QRSessions) Watch(id string) (QRSession, <-chan struct{}, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	q, ok := v.byID[id]
	if !ok {
		return QRSession{}, nil, false
	}
	ch, ok := v.watch[id]
	if !ok {
		ch = make(chan struct{})
		v.watch[id] = ch
	}
	return *q, ch, true
}

// Watched reports whether something waits for the session's next change
// (a parked long-poll; diagnostics and tests).
func (v *QRSessions) Watched(id string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	_, ok := v.watch[id]
	return ok
}

// Count is the number of sessions the view holds.
func (v *QRSessions) Count() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.byID)
}

type qrSnapshot struct {
	Sessions []*QRSession `json:"sessions"`
	LastTime time.Time    `json:"last_time"`
	Pruned   time.Time    `json:"pruned"`
}

// Snapshot implements Projection (sessions sorted by id).
func (v *QRSessions) Snapshot() (json.RawMessage, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	snap := qrSnapshot{Sessions: make([]*QRSession, 0, len(v.byID)), LastTime: v.lastTime, Pruned: v.pruned}
	for _, q := range v.byID {
		snap.Sessions = append(snap.Sessions, q)
	}
	sort.Slice(snap.Sessions, func(i, j int) bool { return snap.Sessions[i].ID < snap.Sessions[j].ID })
	return json.Marshal(snap)
}

// Restore implements Projection; nil empties the view.
func (v *QRSessions) Restore(raw json.RawMessage) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reset()
	if raw == nil {
		return nil
	}
	var snap qrSnapshot
	if err := json.Unmarshal(raw, &snap); err != nil {
		return err
	}
	for _, q := range snap.Sessions {
		v.byID[q.ID] = q
		if q.UserCodeMAC != "" {
			v.byCode[q.UserCodeMAC] = q.ID
		}
	}
	v.lastTime, v.pruned = snap.LastTime, snap.Pruned
	return nil
}
