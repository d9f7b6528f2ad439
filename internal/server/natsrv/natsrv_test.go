package natsrv

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// withDefaults fills in what every test server needs.
func withDefaults(o Options) Options {
	if o.Listen == "" {
		o.Listen = "off"
	}
	if o.Passwords == (Passwords{}) {
		o.Passwords = Passwords{Bindery: "bindery-password-0123456789", Downstream: "downstream-password-0123456789"}
	}
	return o
}

func start(t *testing.T, o Options) *Embedded {
	t.Helper()
	e, err := Start(withDefaults(o))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// policies are the three sync policies as the tests and benchmarks run them.
var policies = []struct {
	name, policy string
	interval     time.Duration
}{
	{"group", PolicyGroup, 0},
	{"always", PolicyAlways, 0},
	{"interval-2m", PolicyInterval, 2 * time.Minute},
}

// The default is the group policy: the in-process connection is the one
// that waits for syncs.
func TestDefaultSyncPolicyIsGroup(t *testing.T) {
	e := start(t, Options{DataDir: t.TempDir()})
	if e.Sync != PolicyGroup || e.group == nil {
		t.Fatalf("default policy %q (syncer %v), want %q", e.Sync, e.group != nil, PolicyGroup)
	}
	if _, ok := e.Conn.Opts.InProcessServer.(durableConns); !ok {
		t.Fatalf("in-process connection %T, want durableConns", e.Conn.Opts.InProcessServer)
	}
}

func TestSyncPoliciesConfigureTheServer(t *testing.T) {
	e := start(t, Options{DataDir: t.TempDir(), Sync: PolicyAlways})
	if jsc := e.Server.JetStreamConfig(); jsc == nil || !jsc.SyncAlways {
		t.Fatalf("always: JetStream config %+v: want SyncAlways", jsc)
	}
	e = start(t, Options{DataDir: t.TempDir(), Sync: PolicyInterval, SyncInterval: 2 * time.Minute})
	if jsc := e.Server.JetStreamConfig(); jsc == nil || jsc.SyncAlways || jsc.SyncInterval != 2*time.Minute || e.group != nil {
		t.Fatalf("interval: JetStream config %+v: want SyncAlways off, SyncInterval 2m, no group syncer", jsc)
	}
	if _, err := Start(withDefaults(Options{DataDir: t.TempDir(), Sync: "sometimes"})); err == nil || !strings.Contains(err.Error(), "sometimes") {
		t.Fatal("an unknown policy started")
	}
}

// A sync asked for while another runs waits for the next one, and one
// sync serves everyone who asked before it began.
func TestGroupSyncWaitsForASyncBegunAfterTheTicket(t *testing.T) {
	release := make(chan struct{})
	var syncs atomic.Int64
	g := newGroupSync(func() error {
		syncs.Add(1)
		<-release
		return nil
	})
	defer g.close()
	first := g.ticket() // starts sync 1
	waitFor(t, func() bool { return syncs.Load() == 1 })
	second, third := g.ticket(), g.ticket() // sync 1 is running: both need sync 2
	if first != 1 || second != 2 || third != 2 {
		t.Fatalf("tickets %d, %d, %d; want 1, 2, 2", first, second, third)
	}
	release <- struct{}{} // sync 1 completes
	if err := g.wait(first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return syncs.Load() == 2 })
	done := make(chan error, 1)
	go func() { done <- g.wait(third) }()
	select {
	case err := <-done:
		t.Fatalf("wait for sync 2 returned (%v) before it completed", err)
	default:
	}
	release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := g.wait(second); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != 2 {
		t.Fatalf("%d syncs for three tickets, want 2", n)
	}
}

func TestGroupSyncFailureIsSticky(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	g := newGroupSync(func() error {
		if fail.Load() {
			return errors.New("EIO")
		}
		return nil
	})
	defer g.close()
	if err := g.wait(g.ticket()); err == nil {
		t.Fatal("a failed sync counted as durable")
	}
	fail.Store(false)
	if err := g.wait(g.ticket()); err == nil {
		t.Fatal("a sync after a failed one counted as durable")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// addStream makes a file-backed R1 stream like Bindery's event streams.
func addStream(t testing.TB, nc *nats.Conn) nats.JetStreamContext {
	t.Helper()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "DURABLE", Subjects: []string{"durable.>"}, Storage: nats.FileStorage, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	return js
}

// A durableConn hands out the bytes in order, and stops draining the
// pipe while it holds maxHeld bytes that nobody read.
func TestDurableConnKeepsOrderAndBoundsWhatItHolds(t *testing.T) {
	server, client := net.Pipe()
	g := newGroupSync(func() error { return nil })
	defer g.close()
	d := newDurableConn(client, g)
	defer d.Close()
	const total = 8 << 20
	var written atomic.Int64
	go func() {
		buf := make([]byte, 32<<10)
		for off := 0; off < total; off += len(buf) {
			for i := range buf {
				buf[i] = byte((off + i) % 251)
			}
			if _, err := server.Write(buf); err != nil {
				return
			}
			written.Add(int64(len(buf)))
		}
	}()
	waitFor(t, func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.held >= maxHeld })
	d.mu.Lock()
	held := d.held
	d.mu.Unlock()
	if held > maxHeld+32<<10 || written.Load() >= total {
		t.Fatalf("holds %d bytes (limit %d), writer wrote %d of %d", held, maxHeld, written.Load(), total)
	}
	got, err := io.ReadAll(io.LimitReader(d, total))
	if err != nil || len(got) != total {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	for i, b := range got {
		if b != byte(i%251) {
			t.Fatalf("byte %d is %d, want %d", i, b, i%251)
		}
	}
}
