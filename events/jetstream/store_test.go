package jetstream_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
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
	return openWith(t, url, replicas, registry())
}

func meta() events.Meta { return events.Meta{Actor: "test", Time: time.Now()} }

// A batch whose commit never arrives (the writer died between sending the
// event and the claim) leaves neither behind, before or after a restart.
func TestUncommittedBatchLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	ns := natstest.Server(t, dir)
	s := openStore(t, ns.ClientURL(), 1)
	ctx := context.Background()
	agg := events.Aggregate{Type: events.AggregateAccount, ID: uuid.NewString()}
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
	repo := events.NewRepository(events.Store(s2), events.AggregateAccount, func(string) *counter { return &counter{} }, 10)
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
			repo := events.NewRepository(events.Store(s), events.AggregateAccount, func(string) *counter { return &counter{} }, 100)
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
	repo := events.NewRepository(events.Store(s), events.AggregateAccount, func(string) *counter { return &counter{} }, 100)
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
