package handlers_test

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// measureSettings passes BINDERY_NATS_SYNC from the environment to a
// measurement's server (tests otherwise run with the defaults).
func measureSettings() map[string]string {
	if v := os.Getenv("BINDERY_NATS_SYNC"); v != "" {
		return map[string]string{"BINDERY_NATS_SYNC": v}
	}
	return nil
}

// TestRefreshMeasure refreshes sessions over loopback HTTP from 32
// clients, each rotating its own session chain, for 10 s
// (BINDERY_MEASURE_SECONDS to change it), and reports refreshes/s and
// latencies. A measurement, not a CI test (BENCHMARKS.md):
//
//	BINDERY_MEASURE=1 go test -run TestRefreshMeasure -v ./handlers/
//
// BINDERY_NATS_SYNC in the environment sets the embedded server's policy.
func TestRefreshMeasure(t *testing.T) {
	if os.Getenv("BINDERY_MEASURE") != "1" {
		t.Skip("a measurement: BINDERY_MEASURE=1 runs it")
	}
	d := 10 * time.Second
	if v, err := strconv.Atoi(os.Getenv("BINDERY_MEASURE_SECONDS")); err == nil && v > 0 {
		d = time.Duration(v) * time.Second
	}
	const clients = 32
	env := testenv.Start(t, "", measureSettings())
	t.Logf("embedded NATS sync policy %q", env.App.Embedded.Sync)
	acc := sessionAccount(t, env, "refresher")
	var mu sync.Mutex
	var lat []time.Duration
	failed := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		tok := startSession(t, env, acc, time.Now()).SessionToken
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Since(start) < d {
				t0 := time.Now()
				r := env.Do("POST", "/v1/sessions/refresh", map[string]string{"session_token": tok})
				var out struct {
					SessionToken string `json:"session_token"`
				}
				if r.Status != 200 || json.Unmarshal(r.Body, &out) != nil || out.SessionToken == "" {
					mu.Lock()
					failed++
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
				tok = out.SessionToken
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if failed > 0 || len(lat) == 0 {
		t.Fatalf("%d clients failed, %d refreshes", failed, len(lat))
	}
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[int(f*float64(len(lat)-1))].Round(10 * time.Microsecond) }
	t.Logf("%d refreshes from %d clients in %.1f s = %.0f refreshes/s; p50 %v, p90 %v, p99 %v",
		len(lat), clients, took.Seconds(), float64(len(lat))/took.Seconds(), q(0.5), q(0.9), q(0.99))
}
