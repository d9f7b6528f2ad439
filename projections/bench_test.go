package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/devtools/natstest"
	"github.com/bindery/bindery/projections"
)

// fill stores n account_created events quickly (async publishes), as the
// store would write them, and returns the position reached.
func fill(tb testing.TB, nc *nats.Conn, n int) events.Position {
	tb.Helper()
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	meta := events.Meta{Actor: "bench", Time: time.Now()}
	for i := 0; i < n; i++ {
		id := uuid.NewString()
		agg := events.Aggregate{Type: "account", ID: id}
		e := events.AccountCreated{AccountID: id, Username: "user" + strconv.Itoa(i), Phone: fmt.Sprintf("+8613%09d", i),
			Email: fmt.Sprintf("user%d@example.com", i), ExternalID: "E" + strconv.Itoa(i), DisplayName: "User " + strconv.Itoa(i)}
		_, raw, err := events.Encode(agg, e, meta, "")
		if err != nil {
			tb.Fatal(err)
		}
		for {
			_, err := js.PublishAsync(agg.Subject(e), raw)
			if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				// A loaded machine: let the acks catch up, then retry.
				<-js.PublishAsyncComplete()
				continue
			}
			if err != nil {
				tb.Fatal(err)
			}
			break
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		tb.Fatal("publishing did not complete")
	}
	st, _ := js.Stream(context.Background(), bjs.HistoryStream)
	info, err := st.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return events.Position{History: info.State.LastSeq}
}

// BenchmarkReplay measures how fast the engine rebuilds the account view
// from the stream (events/s), as on a restart without a snapshot.
func BenchmarkReplay(b *testing.B) {
	const n = 200_000
	ns := natstest.Server(b, "")
	nc := natstest.Connect(b, ns.ClientURL())
	s, err := bjs.Open(context.Background(), nc, events.Catalogue(), bjs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	pos := fill(b, nc, n)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		acc := projections.NewAccounts()
		e := projections.New(s.JetStream(), events.Catalogue(), projections.Options{}, acc)
		start := time.Now()
		if err := e.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		if err := e.WaitFor(context.Background(), pos); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		e.Close()
		if acc.Count() != n {
			b.Fatalf("replayed %d accounts", acc.Count())
		}
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "events/s")
}

// TestProjectionMemoryPerAccount measures the heap the account view holds
// per account (target ≤ 1 KiB). Set BINDERY_MEASURE=1 to run it.
func TestProjectionMemoryPerAccount(t *testing.T) {
	if os.Getenv("BINDERY_MEASURE") == "" {
		t.Skip("measurement; set BINDERY_MEASURE=1")
	}
	const n = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	acc := projections.NewAccounts()
	for i := 0; i < n; i++ {
		id := uuid.NewString()
		acc.Apply(events.Record{Event: events.AccountCreated{AccountID: id, Username: "user" + strconv.Itoa(i),
			Phone: fmt.Sprintf("+8613%09d", i), Email: fmt.Sprintf("user%d@example.com", i), ExternalID: "E" + strconv.Itoa(i),
			DisplayName: "User " + strconv.Itoa(i)}})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("account view: %.0f bytes per account (%d accounts, 4 unique identifiers and a display name each)", per, acc.Count())
	runtime.KeepAlive(acc)
}

// TestRestartWithManyEvents measures how long a restart takes to be ready
// with a snapshot over a large store. BINDERY_MEASURE=1 runs it; set
// BINDERY_MEASURE_EVENTS (default 1000000).
func TestRestartWithManyEvents(t *testing.T) {
	if os.Getenv("BINDERY_MEASURE") == "" {
		t.Skip("measurement; set BINDERY_MEASURE=1")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("BINDERY_MEASURE_EVENTS")); err == nil {
		n = v
	}
	dir := t.TempDir()
	snap := filepath.Join(t.TempDir(), "snap.json")
	ns := natstest.Server(t, dir)
	nc := natstest.Connect(t, ns.ClientURL())
	s, err := bjs.Open(context.Background(), nc, events.Catalogue(), bjs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pos := fill(t, nc, n)
	t.Logf("stored %d events in %s", n, time.Since(start).Round(time.Millisecond))

	run := func(label string) {
		acc := projections.NewAccounts()
		e := projections.New(s.JetStream(), events.Catalogue(), projections.Options{SnapshotPath: snap, SnapshotEvery: time.Hour}, acc)
		start := time.Now()
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := e.WaitFor(context.Background(), pos); err != nil {
			t.Fatal(err)
		}
		for !e.Ready() {
			time.Sleep(time.Millisecond)
		}
		t.Logf("%s: ready in %s (%d accounts)", label, time.Since(start).Round(time.Millisecond), acc.Count())
		cs := time.Now()
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(snap)
		t.Logf("%s: snapshot written in %s (%d MiB)", label, time.Since(cs).Round(time.Millisecond), fi.Size()>>20)
	}
	run("cold start, full replay")
	run("restart from snapshot")
	_ = json.Valid
}
