package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/devtools/testenv"
	"github.com/bindery/bindery/internal/devtools/wxsim"
)

// benchStack runs wxsim and a bindery whose WeChat API is that wxsim and
// whose embedded NATS listens on loopback, as scripts/bench-login.sh does
// with processes; extra adds BINDERY_* settings.
func benchStack(t *testing.T, extra map[string]string) (*testenv.Env, map[string]string) {
	t.Helper()
	sim := httptest.NewServer(wxsim.New(wxsim.Options{}))
	t.Cleanup(sim.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := l.Addr().String()
	l.Close()
	// Otherwise the settings of "bindery serve" (the audit sealer runs),
	// so that a profile of this stack is one of the server.
	settings := map[string]string{"BINDERY_NATS_LISTEN": natsAddr, "BINDERY_WECHAT_API_BASE": sim.URL}
	for k, v := range extra {
		settings[k] = v
	}
	env := testenv.Start(t, "", settings)
	return env, map[string]string{
		"BINDERY_URL": env.URL, "BINDERY_ADMIN_TOKEN": testenv.AdminToken, "BINDERY_NATS_PASSWORD": testenv.NATSPassword,
		"BINDERY_NATS_URL": "nats://" + natsAddr, "WXSIM_URL": sim.URL,
	}
}

// TestBenchLogin runs the load generator end to end for a second against
// an in-process server and checks that it measured real logins and a raw
// publish rate, and cleaned up its scratch stream.
//
// BINDERY_BENCH_ARGS replaces the short run's flags; with --cpuprofile the
// timed phase is profiled with server, wxsim and client in one process
// (make bench-login-profile).
func TestBenchLogin(t *testing.T) {
	env, vars := benchStack(t, nil)
	args := []string{"--users", "20", "--concurrency", "4", "--duration", "1s", "--warmup", "200ms", "--raw-duration", "500ms"}
	profiling := os.Getenv("BINDERY_BENCH_ARGS") != ""
	if profiling {
		args = strings.Fields(os.Getenv("BINDERY_BENCH_ARGS"))
	}
	code, out, errOut := ctl(t, vars, append([]string{"bench", "login", "--json"}, args...)...)
	if code != exitOK {
		t.Fatalf("bench login: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var res struct {
		App       string         `json:"app"`
		Users     int            `json:"users"`
		Logins    int            `json:"logins"`
		PerSecond float64        `json:"logins_per_second"`
		Errors    map[string]int `json:"errors"`
		Latency   benchLatency   `json:"latency"`
		Raw       *rawResult     `json:"raw"`
		Ratio     float64        `json:"ratio"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not the JSON result: %v\n%s", err, out)
	}
	if profiling {
		t.Logf("result:\n%s", out)
	}
	if !profiling && res.Users != 20 {
		t.Fatalf("users = %d, want 20", res.Users)
	}
	if res.Logins == 0 || res.PerSecond <= 0 || len(res.Errors) != 0 {
		t.Fatalf("no clean logins measured: %s", out)
	}
	l := res.Latency
	if !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Fatalf("latency percentiles out of order: %+v", l)
	}
	if res.Raw == nil || res.Raw.Publishes == 0 || res.Raw.Replicas != 1 || res.Raw.Bytes < 200 || res.Ratio <= 0 {
		t.Fatalf("raw publish measurement missing: %s", out)
	}
	for _, want := range []string{"registering users", "warm-up:", "timed logins", "raw JetStream sync publish"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("progress on stderr lacks %q:\n%s", want, errOut)
		}
	}

	// The logins are real: each started a session, stored in the auth log.
	ctx := context.Background()
	js := env.App.Store.JetStream()
	info, err := js.Stream(ctx, "BINDERY_AUTHLOG")
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().State.Msgs; got < uint64(2*res.Logins) {
		t.Fatalf("auth log holds %d messages, fewer than two per login (%d logins)", got, res.Logins)
	}
	if _, err := js.Stream(ctx, benchStream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("scratch stream %s still there (err %v)", benchStream, err)
	}
	if r := env.Admin("GET", "/v1/apps/"+res.App, nil); r.Status != 200 {
		t.Fatalf("bench app %s: %d", res.App, r.Status)
	}

	// The text report has every figure.
	if profiling {
		return
	}
	code, out, errOut = ctl(t, vars, "bench", "login", "--app", res.App, "--users", "4", "--concurrency", "2", "--duration", "300ms", "--warmup", "0", "--raw-duration", "200ms")
	if code != exitOK {
		t.Fatalf("bench login --app %s: exit %d\n%s\n%s", res.App, code, out, errOut)
	}
	for _, want := range []string{"logins ", "/s", "p50", "p90", "p99", "max", "errors      none", "raw publish", "ratio", "goal"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	// Without NATS the login figures still come out, with a note and exit 2.
	code, out, errOut = ctl(t, vars, "bench", "login", "--app", res.App, "--users", "2", "--concurrency", "1", "--duration", "200ms", "--warmup", "0", "--nats", "nats://127.0.0.1:1")
	if code != exitProblem || !strings.Contains(out, "logins ") || !strings.Contains(out, "no raw publish rate") || strings.Contains(out, "  ratio ") {
		t.Fatalf("bench login without NATS: exit %d\n%s\n%s", code, out, errOut)
	}
}

// A server that still limits per IP is named as the cause, before any
// timed phase.
func TestBenchLoginDetectsRateLimit(t *testing.T) {
	_, vars := benchStack(t, map[string]string{"BINDERY_RATE_LIMIT": "1"})
	code, out, errOut := ctl(t, vars, "bench", "login", "--users", "8", "--concurrency", "4", "--duration", "1s")
	if code != exitProblem || !strings.Contains(errOut, "429 rate_limited") || !strings.Contains(errOut, "BINDERY_RATE_LIMIT=0") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

func TestBenchLoginFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no token", nil, nil, "admin token"},
		{"bad url", map[string]string{"BINDERY_ADMIN_TOKEN": "x"}, []string{"--url", "ftp://x"}, "--url"},
		{"no users", map[string]string{"BINDERY_ADMIN_TOKEN": "x"}, []string{"--users", "0"}, "--users"},
		{"no clients", map[string]string{"BINDERY_ADMIN_TOKEN": "x"}, []string{"--concurrency", "0"}, "--concurrency"},
		{"no duration", map[string]string{"BINDERY_ADMIN_TOKEN": "x"}, []string{"--duration", "0s"}, "--duration"},
		{"unknown flag", map[string]string{"BINDERY_ADMIN_TOKEN": "x"}, []string{"--nope"}, "nope"},
		{"nobody there", map[string]string{"BINDERY_ADMIN_TOKEN": "x"}, []string{"--wxsim", "http://127.0.0.1:1"}, "wxsim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := ctl(t, tc.env, append([]string{"bench", "login"}, tc.args...)...)
			if code != exitProblem || !strings.Contains(errOut, tc.want) {
				t.Fatalf("bench login %v: exit %d, stderr lacks %q:\n%s", tc.args, code, tc.want, errOut)
			}
		})
	}
}

func TestBenchHints(t *testing.T) {
	for _, tc := range []struct {
		key, detail, want string
	}{
		{"429 rate_limited", "too many requests from this address; retry later", "BINDERY_RATE_LIMIT=0"},
		{"429 rate_limited", "WeChat's per-user limit was reached; retry in a minute", "--users"},
		{"409 code_used", "this code was used before", ""},
	} {
		got := strings.Join(benchHints(map[string]int{tc.key: 3}, benchSample{tc.key: tc.detail}), "\n")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("hints for %s (%s) = %q, want one naming %q", tc.key, tc.detail, got, tc.want)
		}
	}
}

func TestBenchSummary(t *testing.T) {
	// 1..100 ms shuffled: the q-th percentile is the ceil(q*n)-th smallest.
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		in   []time.Duration
		want benchLatency
	}{
		{ds, benchLatency{P50: 50, P90: 90, P99: 99, Max: 100}},
		{[]time.Duration{1500 * time.Microsecond}, benchLatency{P50: 1.5, P90: 1.5, P99: 1.5, Max: 1.5}},
		{nil, benchLatency{}},
	} {
		if got := benchSummary(tc.in); got != tc.want {
			t.Errorf("summary of %d durations = %+v, want %+v", len(tc.in), got, tc.want)
		}
	}
}
