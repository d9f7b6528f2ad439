package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

type counted struct {
	By int `json:"by"`
}

func (counted) EventName() string { return "test_counted" }

type named struct {
	Owner string `json:"owner"`
	Name  string `json:"name"`
	Old   string `json:"old,omitempty"`
}

func (named) EventName() string { return "test_named" }

func (e named) UniqueConstraints() []events.Constraint {
	cs := []events.Constraint{{Kind: "username", Value: e.Name, Owner: e.Owner}}
	if e.Old != "" {
		cs = append(cs, events.Constraint{Kind: "username", Value: e.Old, Owner: e.Owner, Release: true})
	}
	return cs
}

type counter struct {
	n    int
	name string
}

func (c *counter) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case counted:
		c.n += e.By
	case named:
		c.name = e.Name
	}
}

func (c *counter) Clone() *counter { cp := *c; return &cp }

func registry() *events.Registry { return events.NewRegistry(counted{}, named{}) }

// backend opens a store on a fresh single server or a 3-node cluster (R3).
type backend struct {
	name    string
	connect func(t *testing.T) (func(t *testing.T) *bjs.Store, *natstest.Cluster)
}

func backends(t *testing.T) []backend {
	bs := []backend{{"single", func(t *testing.T) (func(t *testing.T) *bjs.Store, *natstest.Cluster) {
		ns := natstest.Server(t, "")
		return func(t *testing.T) *bjs.Store { return openStore(t, ns.ClientURL(), 1) }, nil
	}}}
	if !testing.Short() {
		bs = append(bs, backend{"cluster", func(t *testing.T) (func(t *testing.T) *bjs.Store, *natstest.Cluster) {
			c := natstest.NewCluster(t)
			return func(t *testing.T) *bjs.Store { return openStore(t, c.URLs(), 3) }, c
		}})
	}
	return bs
}

func openStore(t *testing.T, url string, replicas int) *bjs.Store {
	t.Helper()
	return openStoreTB(t, url, replicas)
}

func openStoreTB(t testing.TB, url string, replicas int) *bjs.Store {
	t.Helper()
	nc := natstest.Connect(t, url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var s *bjs.Store
	var err error
	for ctx.Err() == nil { // a fresh cluster may still be electing
		if s, err = bjs.Open(ctx, nc, registry(), bjs.Config{Replicas: replicas, Timeout: 5 * time.Second}); err == nil {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("open store: %v", err)
	return nil
}

func meta() events.Meta { return events.Meta{Actor: "test", Time: time.Now()} }

func TestAppendLoadChain(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			open, _ := b.connect(t)
			s := open(t)
			ctx := context.Background()
			agg := events.Aggregate{Type: "account", ID: uuid.NewString()}
			recs, err := s.Append(ctx, meta(), events.Change{Aggregate: agg, Events: []events.Event{counted{1}, counted{2}}})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2 || recs[1].Sequence != recs[0].Sequence+1 {
				t.Fatalf("records %+v", recs)
			}
			if _, err := s.Append(ctx, meta(), events.Change{Aggregate: agg, Expected: 0, Events: []events.Event{counted{3}}}); !errors.Is(err, events.ErrConflict) {
				t.Fatalf("stale append: got %v, want ErrConflict", err)
			}
			more, err := s.Append(ctx, meta(), events.Change{Aggregate: agg, Expected: recs[1].Sequence, PrevHash: recs[1].Hash(), Events: []events.Event{counted{4}}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Load(ctx, agg, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 {
				t.Fatalf("loaded %d events, want 3", len(got))
			}
			prev := ""
			for i, r := range got {
				if r.Envelope.PrevHash != prev {
					t.Fatalf("event %d: prevhash %q, want %q", i, r.Envelope.PrevHash, prev)
				}
				if r.Envelope.SpecVersion != "1.0" || r.Envelope.Type != "bindery.test_counted.v1" || r.Envelope.Actor != "test" {
					t.Fatalf("envelope %+v", r.Envelope)
				}
				prev = r.Hash()
			}
			if got[2].Hash() != more[0].Hash() || got[2].Sequence != more[0].Sequence {
				t.Fatal("append result differs from what was stored")
			}
			// Loading after a sequence returns only the rest.
			tail, err := s.Load(ctx, agg, got[1].Sequence)
			if err != nil || len(tail) != 1 {
				t.Fatalf("tail: %v %d", err, len(tail))
			}
		})
	}
}

// Sixteen writers, each with its own repository (as separate replicas
// would have), increment one aggregate: every acknowledged increment is in
// the final state, and the failures are only too-many-conflicts.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			open, _ := b.connect(t)
			s := open(t)
			id := uuid.NewString()
			const writers, each = 16, 10
			var acked, refused atomic.Int64
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				repo := events.NewRepository(events.Store(s), "account", func(string) *counter { return &counter{} }, 100)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						_, _, err := repo.Update(context.Background(), id, meta(), func(c *counter) (events.Decision, error) {
							return events.Decision{Events: []events.Event{counted{1}}}, nil
						})
						switch {
						case err == nil:
							acked.Add(1)
						case errors.Is(err, events.ErrTooManyConflicts):
							refused.Add(1)
						default:
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			repo := events.NewRepository(events.Store(s), "account", func(string) *counter { return &counter{} }, 100)
			c, _, err := repo.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if int64(c.n) != acked.Load() {
				t.Fatalf("state has %d increments, %d were acknowledged (%d refused)", c.n, acked.Load(), refused.Load())
			}
			if acked.Load()+refused.Load() != writers*each {
				t.Fatalf("acked %d + refused %d != %d", acked.Load(), refused.Load(), writers*each)
			}
			t.Logf("%d acknowledged, %d refused after retries", acked.Load(), refused.Load())
		})
	}
}

// Fifty aggregates race to claim one username: exactly one gets it.
func TestConcurrentClaims(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			open, _ := b.connect(t)
			stores := []*bjs.Store{open(t), open(t)}
			name := "alice-" + uuid.NewString()[:8]
			var won atomic.Int64
			var winner atomic.Value
			var wg sync.WaitGroup
			for i := 0; i < 50; i++ {
				s := stores[i%2]
				repo := events.NewRepository(events.Store(s), "account", func(string) *counter { return &counter{} }, 10)
				id := uuid.NewString()
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _, err := repo.Update(context.Background(), id, meta(), func(c *counter) (events.Decision, error) {
						return events.Decision{Events: []events.Event{named{Owner: id, Name: name}}}, nil
					})
					var taken *events.ClaimTakenError
					switch {
					case err == nil:
						won.Add(1)
						winner.Store(id)
					case errors.As(err, &taken), errors.Is(err, events.ErrTooManyConflicts):
					default:
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if won.Load() != 1 {
				t.Fatalf("%d aggregates claimed %q, want exactly 1", won.Load(), name)
			}
			owner, err := stores[0].Owner(context.Background(), "username", name)
			if err != nil || owner != winner.Load().(string) {
				t.Fatalf("owner %q (%v), want the winner %v", owner, err, winner.Load())
			}
		})
	}
}

// A released value can be claimed by someone else; a rename releases the old.
func TestClaimRelease(t *testing.T) {
	ns := natstest.Server(t, "")
	s := openStore(t, ns.ClientURL(), 1)
	ctx := context.Background()
	repo := events.NewRepository(events.Store(s), "account", func(string) *counter { return &counter{} }, 10)
	a, b := uuid.NewString(), uuid.NewString()
	set := func(id, name, old string) error {
		_, _, err := repo.Update(ctx, id, meta(), func(c *counter) (events.Decision, error) {
			return events.Decision{Events: []events.Event{named{Owner: id, Name: name, Old: old}}}, nil
		})
		return err
	}
	if err := set(a, "bob", ""); err != nil {
		t.Fatal(err)
	}
	var taken *events.ClaimTakenError
	if err := set(b, "bob", ""); !errors.As(err, &taken) {
		t.Fatalf("second claim: %v", err)
	}
	if err := set(a, "robert", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := set(b, "bob", ""); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	if err := set(a, "robert", "robert"); err != nil { // re-claim own value: no-op
		t.Fatal(err)
	}
	for name, want := range map[string]string{"bob": b, "robert": a} {
		if got, _ := s.Owner(ctx, "username", name); got != want {
			t.Fatalf("owner of %s = %s, want %s", name, got, want)
		}
	}
}

// A batch whose commit never arrives (the writer died between sending the
// event and the claim) leaves neither behind, before or after a restart.
func TestUncommittedBatchLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	ns := natstest.Server(t, dir)
	s := openStore(t, ns.ClientURL(), 1)
	ctx := context.Background()
	agg := events.Aggregate{Type: "account", ID: uuid.NewString()}
	_, raw, err := events.Encode(agg, named{Owner: agg.ID, Name: "carol"}, meta(), "")
	if err != nil {
		t.Fatal(err)
	}
	nc := natstest.Connect(t, ns.ClientURL())
	for i, m := range []*nats.Msg{
		{Subject: agg.Subject(named{}), Data: raw, Header: nats.Header{}},
		{Subject: bjs.ClaimSubject("username", "carol"), Data: []byte(`{"kind":"username","owner":"` + agg.ID + `"}`), Header: nats.Header{}},
	} {
		m.Header.Set("Nats-Batch-Id", "dead-writer")
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i == 0 {
			if err := nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
		}
		// The second message (with the commit) is never sent: the writer died.
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	check := func(s *bjs.Store) {
		t.Helper()
		recs, err := s.Load(ctx, agg, 0)
		if err != nil || len(recs) != 0 {
			t.Fatalf("uncommitted event visible: %v %d", err, len(recs))
		}
		if owner, _ := s.Owner(ctx, "username", "carol"); owner != "" {
			t.Fatalf("uncommitted claim visible: %s", owner)
		}
	}
	check(s)
	// Restart the server on the same storage.
	ns.Shutdown()
	ns.WaitForShutdown()
	ns2 := natstest.Server(t, dir)
	s2 := openStore(t, ns2.ClientURL(), 1)
	check(s2)
	repo := events.NewRepository(events.Store(s2), "account", func(string) *counter { return &counter{} }, 10)
	if _, _, err := repo.Update(ctx, uuid.NewString(), meta(), func(c *counter) (events.Decision, error) {
		return events.Decision{Events: []events.Event{named{Owner: "x", Name: "carol"}}}, nil
	}); err != nil {
		t.Fatalf("claim after the dead batch: %v", err)
	}
}

// In a 3-node cluster the stream leader is shut down while writers append:
// every acknowledged event is still there afterwards.
func TestClusterLeaderLossKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := natstest.NewCluster(t)
	s := openStore(t, c.URLs(), 3)
	ctx := context.Background()
	var mu sync.Mutex
	acked := map[string]uint64{} // aggregate id -> acknowledged count
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			repo := events.NewRepository(events.Store(s), "account", func(string) *counter { return &counter{} }, 100)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i%5)
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				_, _, err := repo.Update(cctx, id, meta(), func(c *counter) (events.Decision, error) {
					return events.Decision{Events: []events.Event{counted{1}}}, nil
				})
				cancel()
				if err == nil {
					mu.Lock()
					acked[id]++
					mu.Unlock()
				} else {
					repo.Forget(id)
				}
			}
		}(w)
	}
	// Let appends flow, then kill the history stream's leader.
	waitFor(t, 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 10 })
	leader := c.StreamLeader(bjs.HistoryStream)
	if leader < 0 {
		t.Fatal("no stream leader")
	}
	c.Stop(leader)
	before := total(&mu, acked)
	waitFor(t, 30*time.Second, func() bool { return total(&mu, acked) > before+20 })
	close(stop)
	wg.Wait()
	c.Restart(t, leader)
	repo := events.NewRepository(events.Store(s), "account", func(string) *counter { return &counter{} }, 100)
	for id, n := range acked {
		st, _, err := repo.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(st.n) < n {
			t.Fatalf("%s: %d events stored, %d acknowledged", id, st.n, n)
		}
	}
	t.Logf("%d acknowledged appends across the leader change, none lost", total(&mu, acked))
}

func total(mu *sync.Mutex, m map[string]uint64) uint64 {
	mu.Lock()
	defer mu.Unlock()
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
