package projections_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/devtools/natstest"
	"github.com/bindery/bindery/projections"
)

// chainRig is a store with one account, and engines over it that record
// the breaks they report.
type chainRig struct {
	t    *testing.T
	s    *bjs.Store
	snap string
	id   string
	mu   sync.Mutex
	seen []projections.ChainBreak
}

func newChainRig(t *testing.T) *chainRig {
	ns := natstest.Server(t, t.TempDir())
	s, _ := openStore(t, ns.ClientURL())
	r := &chainRig{t: t, s: s, snap: filepath.Join(t.TempDir(), "snap.json")}
	createAccounts(t, s, 1)
	recs, err := s.Load(context.Background(), events.Aggregate{Type: "account", ID: r.firstID()}, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("load: %v", err)
	}
	return r
}

func (r *chainRig) firstID() string {
	if r.id == "" {
		st, _ := r.s.JetStream().Stream(context.Background(), bjs.HistoryStream)
		m, err := st.GetMsg(context.Background(), 1)
		if err != nil {
			r.t.Fatal(err)
		}
		a, _ := events.ParseSubject(m.Subject)
		r.id = a.ID
	}
	return r.id
}

func (r *chainRig) start() (*projections.Engine, *counting) {
	c := &counting{}
	e := projections.New(r.s.JetStream(), events.Catalogue(), projections.Options{
		SnapshotPath: r.snap, SnapshotEvery: time.Hour,
		OnChainBreak: func(b projections.ChainBreak) { r.mu.Lock(); r.seen = append(r.seen, b); r.mu.Unlock() },
	}, c)
	if err := e.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = e.Close() })
	return e, c
}

// publish stores an event on the account with the given prevhash, around
// the store's checks, and returns its sequence.
func (r *chainRig) publish(prev string) uint64 {
	agg := events.Aggregate{Type: "account", ID: r.firstID()}
	ev := events.AccountDisabled{AccountID: agg.ID}
	_, raw, err := events.Encode(agg, ev, events.Meta{Actor: "forger", Time: time.Now()}, prev)
	if err != nil {
		r.t.Fatal(err)
	}
	ack, err := r.s.JetStream().Publish(context.Background(), agg.Subject(ev), raw)
	if err != nil {
		r.t.Fatal(err)
	}
	return ack.Sequence
}

func (r *chainRig) lastHash() string {
	recs, err := r.s.Load(context.Background(), events.Aggregate{Type: "account", ID: r.firstID()}, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	return recs[len(recs)-1].Hash()
}

func waitPos(t *testing.T, e *projections.Engine, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.WaitFor(ctx, events.Position{History: seq}); err != nil {
		t.Fatal(err)
	}
}

// An event whose prevhash is not its aggregate's previous event's hash is
// not applied, is reported, and bounds sealing; one that chains is applied.
func TestEngineRefusesChainBreak(t *testing.T) {
	r := newChainRig(t)
	e, c := r.start()
	good := r.publish(r.lastHash())
	bad := r.publish(strings.Repeat("0", 64))
	waitPos(t, e, bad)
	after := createAccounts(t, r.s, 1)
	waitPos(t, e, after.History)
	if c.n.Load() != 3 { // the account, the chained event, the other account
		t.Fatalf("applied %d, want 3", c.n.Load())
	}
	breaks := e.ChainBreaks()
	if len(breaks) != 1 || breaks[0].Sequence != bad || breaks[0].Stream != "history" || !strings.Contains(breaks[0].Subject, r.firstID()) {
		t.Fatalf("breaks: %+v (good at %d, bad at %d)", breaks, good, bad)
	}
	r.mu.Lock()
	n := len(r.seen)
	r.mu.Unlock()
	if n != 1 {
		t.Fatalf("OnChainBreak called %d times", n)
	}
	if lim, broken := e.SealBound(context.Background(), events.StreamHistory); lim != bad-1 || !broken {
		t.Fatalf("seal bound %d %v, want %d true", lim, broken, bad-1)
	}
	if lim, broken := e.SealBound(context.Background(), events.StreamAuthLog); broken || lim != 0 {
		t.Fatalf("auth log bound %d %v", lim, broken)
	}
}

// The links are in the snapshot: after a restart an event on an aggregate
// known only from the snapshot is still checked, and the break seen before
// is remembered. A snapshot without links (from before the check) is still
// restored, taking first events on trust.
func TestEngineChainSurvivesRestart(t *testing.T) {
	r := newChainRig(t)
	e, _ := r.start()
	first := r.publish(r.lastHash())
	waitPos(t, e, first)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	bad := r.publish("")
	e2, c2 := r.start()
	waitPos(t, e2, bad)
	if c2.n.Load() != 2 { // restored from the snapshot; the forged one not applied
		t.Fatalf("applied after restart %d, want 2", c2.n.Load())
	}
	if b := e2.ChainBreaks(); len(b) != 1 || b[0].Sequence != bad {
		t.Fatalf("breaks after restart: %+v", b)
	}
	if err := e2.Close(); err != nil {
		t.Fatal(err)
	}
	e3, _ := r.start()
	testenvEventually(t, e3.Ready)
	if b := e3.ChainBreaks(); len(b) != 1 || b[0].Sequence != bad {
		t.Fatalf("break forgotten by the snapshot: %+v", b)
	}
	if err := e3.Close(); err != nil {
		t.Fatal(err)
	}

	// An old snapshot: no "chains". It is restored (no replay), and an
	// event on an aggregate it holds is taken on trust.
	data, err := os.ReadFile(r.snap)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m["chains"] == nil {
		t.Fatalf("snapshot has no chains: %v", err)
	}
	delete(m, "chains")
	data, _ = json.Marshal(m)
	if err := os.WriteFile(r.snap, data, 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := r.s.Load(context.Background(), events.Aggregate{Type: "account", ID: r.firstID()}, 0)
	if err != nil {
		t.Fatal(err)
	}
	trusted := r.publish(recs[1].Hash()) // chains to the event at first, which the snapshot applied
	other := createAccounts(t, r.s, 1)
	e4, c4 := r.start()
	waitPos(t, e4, other.History)
	if c4.n.Load() != 4 || recs[1].Sequence != first {
		t.Fatalf("old snapshot: applied %d, want 4 (2 restored, %d and the new account)", c4.n.Load(), trusted)
	}
	if b := e4.ChainBreaks(); len(b) != 0 {
		t.Fatalf("old snapshot: breaks %+v", b)
	}
}
