package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// Exporting a million events through GET /v1/audit/events keeps the heap
// flat (the server and binderyctl both run in this process, so the
// measure covers both), and verify reads them at its rate. The figures go
// to BENCHMARKS.md ("Audit"). Under the race detector (CI) it runs on 10k
// events; -short skips it; BINDERY_AUDIT_EVENTS sets another count.
//
//	go test -run TestAuditMillion -v ./cmd/binderyctl
func TestAuditMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("a million events: not with -short")
	}
	// Not parallel: the heap it measures is the whole test process's, and
	// the package's other tests (syncs, load runs) would be counted too.
	n := 1_000_000
	if raceEnabled {
		n = 10_000
	}
	if v := os.Getenv("BINDERY_AUDIT_EVENTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	// Outside the race detector, NATS runs in a process of its own (the
	// production shape, BINDERY_NATS_URL), so that the heap measured here
	// is bindery's and binderyctl's, not nats-server's block cache (which
	// keeps what was read in the last 10 s).
	var env *testenv.Env
	var vars map[string]string
	if raceEnabled {
		env, vars = server(t)
	} else {
		url := externalNATS(t)
		env = testenv.Start(t, "", map[string]string{"BINDERY_NATS_URL": url, "BINDERY_AUDIT_SEAL_INTERVAL": "0"})
		vars = map[string]string{"BINDERY_URL": env.URL, "BINDERY_ADMIN_TOKEN": testenv.AdminToken, "BINDERY_NATS_URL": url, "BINDERY_MASTER_KEY": testMasterKey}
	}
	ctx := context.Background()
	start := time.Now()
	p := publish(t, env, n, Inert)
	t.Logf("stored %d events in %v", p.Count(), time.Since(start).Round(time.Millisecond))
	head, err := audit.Head(ctx, env.App.Store.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	if err := env.App.Engine.WaitFor(wctx, head); err != nil {
		t.Fatal(err)
	}
	cancel()

	// Sample the live heap (after a collection) while the export runs:
	// HeapInuse alone would count garbage the collector has not reached.
	live := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := live()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if h := live(); h > peak.Load() {
					peak.Store(h)
				}
			}
		}
	}()
	start = time.Now()
	code, _, errOut := ctl(t, vars, "audit", "export", "-o", os.DevNull)
	exportTime := time.Since(start)
	close(stop)
	wg.Wait()
	if code != exitOK || !strings.Contains(errOut, fmt.Sprintf("exported %d events", p.Count())) {
		t.Fatalf("export (%d): %s", code, errOut)
	}
	growth := int64(peak.Load()) - int64(base)
	t.Logf("export: %d events in %v = %.0f events/s; live heap %d MiB before, peak %d MiB (growth %d MiB)",
		p.Count(), exportTime.Round(time.Millisecond), float64(p.Count())/exportTime.Seconds(), base>>20, peak.Load()>>20, growth>>20)
	if growth > 64<<20 {
		t.Fatalf("the heap grew by %d MiB while exporting: not flat", growth>>20)
	}

	if r := env.Admin("POST", "/v1/audit/seal", nil); r.Status != 200 {
		t.Fatalf("seal: %d", r.Status)
	}
	start = time.Now()
	code, out, errOut := ctl(t, vars, "audit", "verify")
	verifyTime := time.Since(start)
	if code != exitOK {
		t.Fatalf("verify (%d): %s %s", code, out, errOut)
	}
	t.Logf("verify: %d events (+ checkpoints) in %v = %.0f events/s", p.Count(), verifyTime.Round(time.Millisecond), float64(p.Count())/verifyTime.Seconds())
}

// externalNATS builds nats-server from the module cache and runs it with
// JetStream on a temp dir, stopped at test end.
func externalNATS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "nats-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	cmd := exec.Command(bin, "-js", "-sd", filepath.Join(dir, "js"), "-a", "127.0.0.1", "-p", fmt.Sprint(addr.Port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", addr.Port)
	testenv.Eventually(t, 20*time.Second, func() bool {
		nc, err := nats.Connect(url)
		if err != nil {
			return false
		}
		nc.Close()
		return true
	})
	return url
}

// TestAuditLoad fills a running server's streams for the benchmarks in
// BENCHMARKS.md ("Audit"); it runs only when BINDERY_AUDIT_LOAD_NATS names
// the server's NATS (BINDERY_AUDIT_EVENTS events, default 1M):
//
//	BINDERY_AUDIT_LOAD_NATS=nats://127.0.0.1:4222 go test -run TestAuditLoad ./cmd/binderyctl
func TestAuditLoad(t *testing.T) {
	url := os.Getenv("BINDERY_AUDIT_LOAD_NATS")
	if url == "" {
		t.Skip("set BINDERY_AUDIT_LOAD_NATS to fill a running server")
	}
	n := 1_000_000
	if v := os.Getenv("BINDERY_AUDIT_EVENTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	nc, js, err := (&cli{getenv: os.Getenv}).connectNATS(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	mix := Inert
	if os.Getenv("BINDERY_AUDIT_MIX") == "mixed" {
		mix = Mixed
	}
	start := time.Now()
	p := NewPublisher(js)
	if err := p.Publish(context.Background(), n, mix); err != nil {
		t.Fatal(err)
	}
	t.Logf("stored %d events in %v", p.Count(), time.Since(start))
}
