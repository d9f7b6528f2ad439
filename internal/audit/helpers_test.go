package audit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

// testKey is the master key of these tests.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// world is a store on a real nats-server, with a writer that keeps each
// aggregate's chain, a keyring and a sealer.
type world struct {
	t     testing.TB
	dir   string
	ns    *server.Server
	nc    *nats.Conn
	store *bjs.Store
	keys  *audit.Keyring
	seal  *audit.Sealer
	last  map[events.Aggregate]events.Record
	ids   []string // account ids, in creation order
	clock time.Time
}

func newWorld(t testing.TB, dir string) *world {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	w := &world{t: t, dir: dir, last: map[events.Aggregate]events.Record{}, clock: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	w.open()
	return w
}

// open starts the server on the world's dir and opens the store.
func (w *world) open() {
	t := w.t
	t.Helper()
	w.ns = natstest.Server(t, w.dir)
	w.nc = natstest.Connect(t, w.ns.ClientURL())
	var err error
	ctx := context.Background()
	w.store, err = bjs.Open(ctx, w.nc, events.Catalogue(), bjs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	box, _ := secrets.NewBox(testKey)
	if w.keys, err = audit.OpenKeyring(ctx, w.store.JetStream(), box, 1); err != nil {
		t.Fatal(err)
	}
	w.seal = &audit.Sealer{JS: w.store.JetStream(), Keys: w.keys, Now: func() time.Time { return w.clock }}
}

// restart stops the server (flushing its files) and starts it again.
func (w *world) restart(edit func()) {
	w.stop()
	if edit != nil {
		edit()
	}
	w.open()
}

func (w *world) stop() {
	w.nc.Close()
	w.ns.Shutdown()
	w.ns.WaitForShutdown()
}

// append stores events on one aggregate, linked to its previous event.
func (w *world) append(agg events.Aggregate, evs ...events.Event) []events.Record {
	w.t.Helper()
	prev, ok := w.last[agg]
	ch := events.Change{Aggregate: agg, Events: evs}
	if ok {
		ch.Expected, ch.PrevHash = prev.Sequence, prev.Hash()
	}
	w.clock = w.clock.Add(time.Second)
	recs, err := w.store.Append(context.Background(), events.Meta{Actor: "test", Time: w.clock}, ch)
	if err != nil {
		w.t.Fatalf("append %s: %v", agg, err)
	}
	w.last[agg] = recs[len(recs)-1]
	return recs
}

// mixed appends n rounds of history and auth-log events: an account
// created (with unique values, so claims are stored too), updated, logged
// in, and its session issued.
func (w *world) mixed(n int) {
	w.t.Helper()
	for i := 0; i < n; i++ {
		id := uuid.NewString()
		w.ids = append(w.ids, id)
		acc := events.Aggregate{Type: "account", ID: id}
		w.append(acc, events.AccountCreated{AccountID: id, Username: fmt.Sprintf("user%d-%s", i, id[:8]), DisplayName: "User"})
		name := fmt.Sprintf("Renamed %d", i)
		w.append(acc, events.AccountUpdated{AccountID: id, DisplayName: &name})
		sid := uuid.NewString()
		w.append(events.Aggregate{Type: "login", ID: uuid.NewString()}, events.LoginSucceeded{App: "demo", AccountID: id, Method: "code", SessionID: sid})
		w.append(events.Aggregate{Type: "session", ID: sid}, events.SessionIssued{SessionID: sid, AccountID: id, App: "demo", TokenHash: "00", AuthTime: w.clock, ExpiresAt: w.clock.Add(time.Hour)})
	}
}

func (w *world) verify() audit.Report {
	w.t.Helper()
	v := &audit.Verifier{JS: w.store.JetStream(), Keys: w.keys.Set()}
	rep, err := v.Verify(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return rep
}

func (w *world) sealNow() []audit.Sealed {
	w.t.Helper()
	got, err := w.seal.Seal(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return got
}
