package replaybench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/crypto/datakeys"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/devtools/natstest"
	"github.com/bindery/bindery/projections"
)

// masterKey is the generated store's master key (a benchmark's, not a secret).
var masterKey = []byte("replay-bench-master-key-32bytes!")

// manifest describes a generated store (manifest.json in its directory).
type manifest struct {
	Version  int             `json:"version"`
	Events   int             `json:"events"`   // event messages in both streams
	Accounts int             `json:"accounts"` // accounts created
	Tail     int             `json:"tail"`     // events stored after the snapshot
	Snapshot events.Position `json:"snapshot"` // where the snapshot was taken
	Head     events.Position `json:"head"`     // the last event of each stream
}

const manifestVersion = 2

// store is a generated store opened on its own nats-server.
type store struct {
	dir string
	nc  *nats.Conn
	js  jetstream.JetStream
	box *secrets.Box
	man manifest
}

// openStore opens (generating it first when missing) the store of about n
// events in dir.
func openStore(t *testing.T, dir string, n int) *store {
	t.Helper()
	s := &store{dir: dir}
	s.box, _ = secrets.NewBox(masterKey)
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err == nil && json.Unmarshal(raw, &s.man) == nil && s.man.Version == manifestVersion && s.man.Events >= n && s.man.Events < n+n/50+100 {
		s.connect(t)
		t.Logf("store %s: %d events (%d accounts), snapshot at %s, head %s", dir, s.man.Events, s.man.Accounts, s.man.Snapshot, s.man.Head)
		return s
	}
	s.man = manifest{}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s.connect(t)
	s.generate(t, n)
	return s
}

func (s *store) connect(t *testing.T) {
	ns := natstest.Server(t, filepath.Join(s.dir, "js"))
	s.nc = natstest.Connect(t, ns.ClientURL())
	if _, err := bjs.Open(context.Background(), s.nc, events.Catalogue(), bjs.Config{}); err != nil {
		t.Fatal(err)
	}
	// A generous API timeout: the machine this runs on is shared and busy.
	js, err := jetstream.New(s.nc, jetstream.WithDefaultTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	s.js = js
}

// snapshotPath is where the generator left the snapshot; runs copy it.
func (s *store) snapshotPath() string { return filepath.Join(s.dir, "projections.snapshot.json") }

// keys opens the data keys as a starting server does (every key loaded
// sealed, each opened on first use).
func (s *store) keys(t *testing.T) *datakeys.Keyring {
	t.Helper()
	k, err := datakeys.Open(context.Background(), s.js, s.box, datakeys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

// snapshotBox is the key the server seals its snapshot under.
func (s *store) snapshotBox(t *testing.T, k *datakeys.Keyring) *secrets.Box {
	t.Helper()
	raw, err := k.ServerSecret(context.Background(), "snapshot")
	if err != nil {
		t.Fatal(err)
	}
	b, err := secrets.NewBox(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// generate writes ~n events: per account its creation (username, display
// name, phone, email and external id sealed under its data key), a WeChat
// openid and unionid bound (sealed), every second one renamed, every tenth
// granted a role, and three logins with their sessions in the auth log.
// The snapshot is taken after 99 % of the accounts, so that a restart has
// a tail to catch up; then both streams are sealed with checkpoints.
func (s *store) generate(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	keys := s.keys(t)
	reg := events.Catalogue()
	reg.UseSealer(keys)
	w := &writer{js: s.js, keys: keys, last: map[events.Aggregate]string{}, clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	perAccount := 9.6
	accounts := int(float64(n)/perAccount) + 1
	snapAt := accounts - accounts/100
	for i := 0; w.n < n; i++ {
		if i == snapAt {
			w.flush(t)
			s.man.Snapshot = s.takeSnapshot(t, reg, keys)
			s.man.Tail = -w.n
			t.Logf("generated %d events, snapshot at %s (%s)", w.n, s.man.Snapshot, time.Since(start).Round(time.Second))
		}
		w.account(t, i)
		s.man.Accounts++
		if i%20000 == 0 {
			t.Logf("%d events (%s)", w.n, time.Since(start).Round(time.Second))
		}
	}
	w.flush(t)
	s.man.Tail += w.n
	s.man.Events = w.n
	var err error
	if s.man.Head, err = audit.Head(ctx, s.js); err != nil { // the last event (checkpoints come after it)
		t.Fatal(err)
	}
	sealKeys, err := audit.OpenKeyring(ctx, s.js, s.box, 1)
	if err != nil {
		t.Fatal(err)
	}
	sealer := &audit.Sealer{JS: s.js, Keys: sealKeys}
	if _, err := sealer.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	s.man.Version = manifestVersion
	raw, _ := json.Marshal(s.man)
	if err := os.WriteFile(filepath.Join(s.dir, "manifest.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %d events (%d accounts, tail %d) in %s", s.man.Events, s.man.Accounts, s.man.Tail, time.Since(start).Round(time.Second))
}

// takeSnapshot runs the engine over what is stored and closes it, which
// writes the sealed snapshot.
func (s *store) takeSnapshot(t *testing.T, reg *events.Registry, keys *datakeys.Keyring) events.Position {
	t.Helper()
	ctx := context.Background()
	head, err := audit.Head(ctx, s.js)
	if err != nil {
		t.Fatal(err)
	}
	views := projections.NewSet()
	e := projections.New(s.js, reg, projections.Options{SnapshotPath: s.snapshotPath(), SnapshotEvery: time.Hour, SnapshotSeal: s.snapshotBox(t, keys)}, views.All()...)
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitFor(ctx, head); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return head
}

// writer publishes chained, sealed events asynchronously.
type writer struct {
	js      jetstream.JetStream
	keys    *datakeys.Keyring
	last    map[events.Aggregate]string
	clock   time.Time
	n       int
	futures []jetstream.PubAckFuture
}

func (w *writer) emit(t *testing.T, agg events.Aggregate, e events.Event) {
	w.clock = w.clock.Add(time.Millisecond)
	_, raw, err := events.EncodeSealed(w.keys, agg, e, events.Meta{Actor: "system", Time: w.clock}, w.last[agg])
	if err != nil {
		t.Fatal(err)
	}
	if agg.Type == events.AggregateAccount {
		w.last[agg] = events.HashBytes(raw) // logins and sessions are not written again
	}
	f, err := w.js.PublishAsync(agg.Subject(e), raw)
	if err != nil {
		t.Fatal(err)
	}
	w.futures = append(w.futures, f)
	w.n++
	if len(w.futures) >= 2000 {
		w.flush(t)
	}
}

func (w *writer) flush(t *testing.T) {
	for _, f := range w.futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-time.After(time.Minute):
			t.Fatal("publish not acknowledged")
		}
	}
	w.futures = w.futures[:0]
}

func (w *writer) account(t *testing.T, i int) {
	id := accountID(i)
	acc := events.Aggregate{Type: events.AggregateAccount, ID: id}
	if i%1000 == 0 { // the data keys of the next thousand accounts, 16 requests at a time
		owners := make([]string, 1000)
		for k := range owners {
			owners[k] = events.KeyOwner(events.Aggregate{Type: events.AggregateAccount, ID: accountID(i + k)})
		}
		if err := w.keys.Prepare(context.Background(), owners); err != nil {
			t.Fatal(err)
		}
	}
	w.emit(t, acc, events.AccountCreated{AccountID: id, Username: fmt.Sprintf("user%07d", i), DisplayName: fmt.Sprintf("Wei Zhang %d", i),
		Phone: fmt.Sprintf("+86138%08d", i), Email: fmt.Sprintf("user%d@example.com", i), ExternalID: fmt.Sprintf("E%08d", i), Source: "sync"})
	w.emit(t, acc, events.IdentityBound{AccountID: id, Method: "code", BoundIdentity: events.BoundIdentity{
		BindingID: fmt.Sprintf("b-%d-1", i), Kind: events.BindingOpenID, App: "mini", Subject: fmt.Sprintf("oAbCdEfGhIjKlMnOpQrSt%07d", i)}})
	w.emit(t, acc, events.IdentityBound{AccountID: id, Method: "code", BoundIdentity: events.BoundIdentity{
		BindingID: fmt.Sprintf("b-%d-2", i), Kind: events.BindingUnionID, Subject: fmt.Sprintf("uAbCdEfGhIjKlMnOpQrSt%07d", i)}})
	if i%2 == 0 {
		name := fmt.Sprintf("Zhang Wei %d", i)
		w.emit(t, acc, events.AccountUpdated{AccountID: id, DisplayName: &name, Source: "admin"})
	}
	if i%10 == 0 {
		w.emit(t, acc, events.RoleGranted{AccountID: id, Role: "member"})
	}
	for l := 0; l < 3; l++ {
		login := fmt.Sprintf("0a0d0000-%04d-4000-8000-%012d", l, i)
		sid := fmt.Sprintf("0a0e0000-%04d-4000-8000-%012d", l, i)
		w.emit(t, events.Aggregate{Type: events.AggregateLogin, ID: login}, events.LoginSucceeded{App: "mini", AccountID: id, Method: "code", SessionID: sid})
		w.emit(t, events.Aggregate{Type: events.AggregateSession, ID: sid}, events.SessionIssued{SessionID: sid, AccountID: id, App: "mini",
			TokenHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", AMR: []string{"wechat"}, AuthTime: w.clock, ExpiresAt: w.clock.Add(30 * 24 * time.Hour)})
	}
}

func accountID(i int) string { return fmt.Sprintf("0a0c0000-0000-4000-8000-%012d", i) }
