package replaybench_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/server/metrics"
	"github.com/bindery/bindery/projections"
)

// TestReplayMeasure reports, over a store of BINDERY_REPLAY_EVENTS events
// (default 1M) kept in BINDERY_REPLAY_DIR (default $TMPDIR/bindery-replay,
// generated on the first run, ~minutes):
//
//   - replay: every view rebuilt from zero by the engine, events/s;
//   - verify: audit verify of both streams (hash chains and checkpoints), events/s;
//   - restart: data keys opened, the sealed snapshot restored and the tail
//     (the last 1 % of the accounts) caught up until Ready, seconds.
//
// BINDERY_REPLAY_ROUNDS repeats the three (default 1);
// BINDERY_REPLAY_PROFILE=<dir> writes a CPU profile of each (replay.cpu, ...; replay-2.cpu in round 2). Run it with
// `make bench-replay`; it is skipped unless BINDERY_REPLAY_MEASURE=1.
func TestReplayMeasure(t *testing.T) {
	if os.Getenv("BINDERY_REPLAY_MEASURE") == "" {
		t.Skip("a measurement over 1M stored events; set BINDERY_REPLAY_MEASURE=1 (make bench-replay)")
	}
	n := envInt("BINDERY_REPLAY_EVENTS", 1_000_000)
	dir := os.Getenv("BINDERY_REPLAY_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "bindery-replay")
	}
	s := openStore(t, dir, n)
	for round := 1; round <= envInt("BINDERY_REPLAY_ROUNDS", 1); round++ {
		load := loadAverage()
		var rate, vrate float64
		var ready time.Duration
		cpuReplay := cpuOf(func() { profiled(t, "replay", round, func() { rate = s.replay(t) }) })
		cpuVerify := cpuOf(func() { profiled(t, "verify", round, func() { vrate = s.verify(t) }) })
		var cpuRestart time.Duration
		profiled(t, "restart", round, func() { ready, cpuRestart = s.restart(t) })
		// The process's CPU (nats-server runs in it too) is the figure a
		// loaded machine changes least: wall time waits for the cores.
		t.Logf("round %d (load %s): replay %.0f events/s, verify %.0f events/s, restart ready in %.2f s (%d events, tail %d); "+
			"CPU of the process: replay %.1f µs/event, verify %.1f µs/event, restart %.2f s",
			round, load, rate, vrate, ready.Seconds(), s.man.Events, s.man.Tail,
			cpuReplay.Seconds()*1e6/float64(s.man.Events), cpuVerify.Seconds()*1e6/float64(s.man.Events), cpuRestart.Seconds())
	}
}

// replay rebuilds every view from zero, as a server without a snapshot.
func (s *store) replay(t *testing.T) float64 {
	t.Helper()
	ctx := context.Background()
	keys := s.keys(t)
	reg := events.Catalogue()
	reg.UseSealer(keys)
	views := projections.NewSet()
	e := projections.New(s.js, reg, serverOptions(projections.Options{}), views.All()...)
	start := time.Now()
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitFor(ctx, s.man.Head); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	_ = e.Close()
	if got := views.Accounts.Count(); got != s.man.Accounts {
		t.Fatalf("replayed %d accounts, stored %d", got, s.man.Accounts)
	}
	last := accountID(s.man.Accounts - 1)
	if acc, ok := views.Accounts.Get(last); !ok || acc.Phone == "" || len(acc.Bindings) != 2 {
		t.Fatalf("the last account replayed without its opened phone or bindings: %+v", acc)
	}
	return float64(s.man.Events) / took.Seconds()
}

// verify checks both streams' chains and checkpoints.
func (s *store) verify(t *testing.T) float64 {
	t.Helper()
	ctx := context.Background()
	pubs, err := audit.LoadPublicKeys(ctx, s.js)
	if err != nil {
		t.Fatal(err)
	}
	v := &audit.Verifier{JS: s.js, Keys: pubs}
	start := time.Now()
	rep, err := v.Verify(ctx)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Events != s.man.Events || rep.Unsealed != 0 {
		t.Fatalf("verify: ok %v, %d events (stored %d), %d unsealed, %+v", rep.OK, rep.Events, s.man.Events, rep.Unsealed, rep.FirstBad)
	}
	return float64(rep.Events) / took.Seconds()
}

// restart is a server start over the store: its data keys opened, the
// snapshot the generator left restored, the tail applied, until Ready.
func (s *store) restart(t *testing.T) (took, cpu time.Duration) {
	t.Helper()
	ctx := context.Background()
	snap := filepath.Join(t.TempDir(), "projections.snapshot.json")
	copyFile(t, s.snapshotPath(), snap)
	cpu0 := cpuUsed()
	start := time.Now()
	keys := s.keys(t)
	reg := events.Catalogue()
	reg.UseSealer(keys)
	views := projections.NewSet()
	e := projections.New(s.js, reg, serverOptions(projections.Options{SnapshotPath: snap, SnapshotEvery: time.Hour, SnapshotSeal: s.snapshotBox(t, keys)}), views.All()...)
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !e.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("not ready after 2 minutes")
		}
		time.Sleep(time.Millisecond)
	}
	took, cpu = time.Since(start), cpuUsed()-cpu0
	if err := e.WaitFor(ctx, s.man.Head); err != nil {
		t.Fatal(err)
	}
	if e.Position() != s.man.Head || views.Accounts.Count() != s.man.Accounts {
		t.Fatalf("restart: at %s with %d accounts, want %s and %d", e.Position(), views.Accounts.Count(), s.man.Head, s.man.Accounts)
	}
	if err := e.Close(); err != nil { // writes the copy, not the generator's snapshot
		t.Fatal(err)
	}
	return took, cpu
}

// serverOptions adds what the server's engine observes (internal/server/app.go).
func serverOptions(o projections.Options) projections.Options {
	m := metrics.New()
	o.OnApply = func(r events.Record) { m.ObserveApplied(r.Stream, r.Envelope.Time) }
	o.OnChainBreak = func(b projections.ChainBreak) { m.ChainBreaks.WithLabelValues(b.Stream).Inc() }
	return o
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// profiled runs fn under a CPU profile when BINDERY_REPLAY_PROFILE names a
// directory (name.cpu for round 1, name-<round>.cpu after it).
func profiled(t *testing.T, name string, round int, fn func()) {
	dir := os.Getenv("BINDERY_REPLAY_PROFILE")
	if dir == "" {
		fn()
		return
	}
	if round > 1 {
		name += "-" + strconv.Itoa(round)
	}
	f, err := os.Create(filepath.Join(dir, name+".cpu"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	defer pprof.StopCPUProfile()
	fn()
}

// cpuOf is the CPU time (user + system) the process spent while fn ran.
func cpuOf(fn func()) time.Duration {
	start := cpuUsed()
	fn()
	return cpuUsed() - start
}

func cpuUsed() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(raw) < 4 {
		return "?"
	}
	f := string(raw)
	for i := range f {
		if f[i] == ' ' {
			return f[:i]
		}
	}
	return f
}
