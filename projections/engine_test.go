package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/devtools/natstest"
	"github.com/bindery/bindery/projections"
)

// counting is a view that counts what it applied (and snapshots the count):
// its table has a reducer for every catalogue type.
type counting struct{ n atomic.Int64 }

func (c *counting) Name() string { return "counting" }
func (c *counting) Reducers() []projections.Reducer {
	reg := events.Catalogue()
	var rs []projections.Reducer
	for _, name := range reg.Names() {
		ev, err := reg.Decode(name, []byte("{}"))
		if err != nil {
			panic(err)
		}
		rs = append(rs, projections.Reducer{Event: ev, Reduce: func(events.Record) { c.n.Add(1) }})
	}
	return rs
}
func (c *counting) Snapshot() (json.RawMessage, error) { return json.Marshal(c.n.Load()) }
func (c *counting) Restore(raw json.RawMessage) error {
	var n int64
	if raw != nil {
		if err := json.Unmarshal(raw, &n); err != nil {
			return err
		}
	}
	c.n.Store(n)
	return nil
}

func openStore(t *testing.T, url string) (*bjs.Store, *nats.Conn) {
	t.Helper()
	nc := natstest.Connect(t, url)
	s, err := bjs.Open(context.Background(), nc, events.Catalogue(), bjs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s, nc
}

func createAccounts(t testing.TB, s *bjs.Store, n int) events.Position {
	var pos events.Position
	for i := 0; i < n; i++ {
		id := uuid.NewString()
		recs, err := s.Append(context.Background(), events.Meta{Actor: "test", Time: time.Now()}, events.Change{
			Aggregate: events.Aggregate{Type: "account", ID: id},
			Events:    []events.Event{events.AccountCreated{AccountID: id, Username: fmt.Sprintf("u%d-%s", i, id[:6])}},
		})
		if err != nil {
			t.Fatal(err)
		}
		pos = pos.Max(events.PositionOf(recs))
	}
	return pos
}

func TestEngineAppliesAndWaits(t *testing.T) {
	ns := natstest.Server(t, "")
	s, _ := openStore(t, ns.ClientURL())
	accounts := projections.NewAccounts()
	eng := projections.New(s.JetStream(), events.Catalogue(), projections.Options{}, accounts)
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	testenvEventually(t, eng.Ready)
	pos := createAccounts(t, s, 25)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := eng.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	if accounts.Count() != 25 {
		t.Fatalf("view has %d accounts, want 25", accounts.Count())
	}
	// A position the store never reached times out with ErrNotReached.
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := eng.WaitFor(short, events.Position{History: pos.History + 100}); err != projections.ErrNotReached {
		t.Fatalf("unreached position: %v", err)
	}
}

// A restart restores the snapshot and applies only what came after it; a
// snapshot taken on other streams is ignored and everything is replayed.
func TestEngineSnapshotRestart(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(t.TempDir(), "snap.json")
	ns := natstest.Server(t, dir)
	s, _ := openStore(t, ns.ClientURL())
	start := func() (*projections.Engine, *counting, *projections.Accounts) {
		c, a := &counting{}, projections.NewAccounts()
		e := projections.New(s.JetStream(), events.Catalogue(), projections.Options{SnapshotPath: snap, SnapshotEvery: time.Hour}, c, a)
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return e, c, a
	}
	pos := createAccounts(t, s, 30)
	e1, c1, _ := start()
	ctx := context.Background()
	if err := e1.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	if err := e1.Close(); err != nil { // writes the snapshot
		t.Fatal(err)
	}
	if c1.n.Load() != 30 {
		t.Fatalf("first run applied %d", c1.n.Load())
	}
	pos = createAccounts(t, s, 5)
	e2, c2, a2 := start()
	defer e2.Close()
	if err := e2.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	testenvEventually(t, e2.Ready)
	if c2.n.Load() != 35 { // 30 restored + 5 applied
		t.Fatalf("after restart the count is %d, want 35", c2.n.Load())
	}
	if a2.Count() != 35 {
		t.Fatalf("accounts after restart: %d", a2.Count())
	}

	// Same snapshot file, a brand-new server: the snapshot does not fit.
	ns2 := natstest.Server(t, "")
	s2, _ := openStore(t, ns2.ClientURL())
	pos2 := createAccounts(t, s2, 3)
	c3, a3 := &counting{}, projections.NewAccounts()
	e3 := projections.New(s2.JetStream(), events.Catalogue(), projections.Options{SnapshotPath: snap, SnapshotEvery: time.Hour}, c3, a3)
	if err := e3.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e3.Close()
	if err := e3.WaitFor(ctx, pos2); err != nil {
		t.Fatal(err)
	}
	if a3.Count() != 3 || c3.n.Load() != 3 {
		t.Fatalf("foreign snapshot was used: %d accounts, %d applied", a3.Count(), c3.n.Load())
	}
}

func testenvEventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("not ready in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A stream whose last message is a uniqueness claim (not an event) still
// counts as caught up once the last event is applied, also after a restart
// from a snapshot.
func TestEngineReadyWhenClaimsTrail(t *testing.T) {
	ns := natstest.Server(t, "")
	s, _ := openStore(t, ns.ClientURL())
	id := uuid.NewString()
	if _, err := s.Append(context.Background(), events.Meta{Time: time.Now()}, events.Change{
		Aggregate: events.Aggregate{Type: "account", ID: id},
		Events:    []events.Event{events.AccountCreated{AccountID: id, Username: "trailing-claim"}},
	}); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(t.TempDir(), "snap.json")
	for round := 0; round < 2; round++ {
		a := projections.NewAccounts()
		e := projections.New(s.JetStream(), events.Catalogue(), projections.Options{SnapshotPath: snap, SnapshotEvery: time.Hour}, a)
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		testenvEventually(t, e.Ready)
		if a.Count() != 1 {
			t.Fatalf("round %d: %d accounts", round, a.Count())
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
