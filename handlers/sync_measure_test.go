package handlers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// TestSyncMeasure syncs a generated file of 100k records (BINDERY_MEASURE_N
// to change it) over loopback HTTP, streamed from a pipe, twice (creation,
// then the unchanged re-sync), and reports the time and the heap sampled
// during the run. It is a measurement, not a CI test (BENCHMARKS.md):
//
//	BINDERY_MEASURE=1 go test -run TestSyncMeasure -v -timeout 10m ./handlers/
//
// BINDERY_NATS_SYNC in the environment sets the embedded server's policy.
func TestSyncMeasure(t *testing.T) {
	if os.Getenv("BINDERY_MEASURE") != "1" {
		t.Skip("a measurement: BINDERY_MEASURE=1 runs it")
	}
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("BINDERY_MEASURE_N")); err == nil && v > 0 {
		n = v
	}
	env := syncEnvWith(t, measureSettings())
	t.Logf("embedded NATS sync policy %q", env.App.Embedded.Sync)
	for _, round := range []string{"create", "unchanged"} {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		heap := newHeapSampler(100 * time.Millisecond)
		pr, pw := io.Pipe()
		var sent atomic.Int64
		go func() {
			for i := range n {
				k, err := fmt.Fprintln(pw, crmLine(i, fmt.Sprintf("Employee %d", i)))
				if err != nil {
					return
				}
				sent.Add(int64(k))
			}
			pw.Close()
		}()
		req, err := http.NewRequest("POST", env.URL+"/v1/apps/crm/sync/accounts", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testenv.AdminToken)
		req.Header.Set("Content-Type", "application/x-ndjson")
		cpu0 := cpuTime()
		start := time.Now()
		resp, err := env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var rep syncReport
		err = json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		took := time.Since(start)
		cpu := cpuTime() - cpu0
		samples := heap.stop()
		if err != nil || resp.StatusCode != 200 || len(rep.Failed) != 0 || rep.Created+rep.Unchanged != n {
			t.Fatalf("%s: %d %v %s", round, resp.StatusCode, err, rep)
		}
		peak := uint64(0)
		for _, s := range samples {
			peak = max(peak, s)
		}
		at := func(f float64) float64 { return float64(samples[int(f*float64(len(samples)-1))]) / (1 << 20) }
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		live := make([]string, len(heap.live))
		for i, v := range heap.live {
			live[i] = mib(v)
		}
		t.Logf("%s: %d records (%.1f MiB) in %.1f s = %.0f records/s; CPU %.1f s (%.1f of 2 cores busy)", round, n, float64(sent.Load())/(1<<20), took.Seconds(), float64(n)/took.Seconds(), cpu.Seconds(), cpu.Seconds()/took.Seconds())
		t.Logf("%s: heap (MiB): live before %s, after %s; during: peak %s, at 10%% %.0f, 50%% %.0f, 90%% %.0f; live every second: %s",
			round, mib(base.HeapAlloc), mib(after.HeapAlloc), mib(peak), at(0.1), at(0.5), at(0.9), strings.Join(live, " "))
		if path := os.Getenv("BINDERY_MEASURE_HEAP"); path != "" {
			runtime.GC()
			f, err := os.Create(path + "." + round)
			if err != nil {
				t.Fatal(err)
			}
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
		if took > 60*time.Second && n >= 100000 {
			t.Errorf("%s took %v, the goal is 60 s", round, took)
		}
	}
}

// heapSampler records HeapAlloc (live data and garbage not yet
// collected) at an interval, and the live heap (after a forced GC) every
// tenth sample, until stopped.
type heapSampler struct {
	done    chan struct{}
	wg      sync.WaitGroup
	samples []uint64
	live    []uint64
}

func newHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{done: make(chan struct{})}
	h.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for i := 0; ; i++ {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			h.samples = append(h.samples, m.HeapAlloc)
			if i%10 == 9 {
				runtime.GC()
				runtime.ReadMemStats(&m)
				h.live = append(h.live, m.HeapAlloc)
			}
			select {
			case <-h.done:
				return
			case <-t.C:
			}
		}
	})
	return h
}

func (h *heapSampler) stop() []uint64 {
	close(h.done)
	h.wg.Wait()
	return h.samples
}

func mib(v uint64) string { return strconv.FormatFloat(float64(v)/(1<<20), 'f', 0, 64) }

// cpuTime is the user and system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
