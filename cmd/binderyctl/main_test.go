package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/devtools/testenv"
	"github.com/bindery/bindery/projections"
)

// server runs bindery with its embedded NATS open on a loopback port, as
// "bindery serve" does, so that binderyctl reaches both.
// testMasterKey is testenv's master key.
const testMasterKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func server(t *testing.T) (*testenv.Env, map[string]string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := testenv.Start(t, "", map[string]string{"BINDERY_NATS_LISTEN": addr, "BINDERY_AUDIT_SEAL_INTERVAL": "0"})
	return env, map[string]string{
		"BINDERY_URL": env.URL, "BINDERY_ADMIN_TOKEN": testenv.AdminToken, "BINDERY_NATS_PASSWORD": testenv.NATSPassword, "BINDERY_NATS_URL": "nats://" + addr,
		// The tools open personal values with the master key (SPEC §8).
		"BINDERY_MASTER_KEY": testMasterKey,
	}
}

// ctl runs binderyctl with the environment and returns its exit code and
// output.
func ctl(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &cli{stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] }})
	return code, out.String(), errOut.String()
}

func publish(t *testing.T, env *testenv.Env, n int, mix Mix) *Publisher {
	t.Helper()
	p := NewPublisher(env.App.Store.JetStream())
	if err := p.Publish(context.Background(), n, mix); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHelpExplains(t *testing.T) {
	code, out, _ := ctl(t, nil, "--help")
	for _, want := range []string{"audit export", "audit verify", "audit replay", "events tail", "BINDERY_URL", "BINDERY_ADMIN_TOKEN", "BINDERY_NATS_URL"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("help (%d) lacks %q:\n%s", code, want, out)
		}
	}
	code, _, errOut := ctl(t, nil, "audit", "verify", "--help")
	if code != 0 || !strings.Contains(errOut, "-key") || !strings.Contains(errOut, "first_bad") {
		t.Fatalf("audit verify --help (%d):\n%s", code, errOut)
	}
	if code, _, _ := ctl(t, nil, "audit", "nonsense"); code != exitProblem {
		t.Fatalf("unknown command: exit %d", code)
	}
	if code, _, errOut := ctl(t, map[string]string{"BINDERY_ADMIN_TOKEN": "x"}, "audit", "export", "--limit", "3"); code != exitProblem || !strings.Contains(errOut, "limit") {
		t.Fatalf("bad flag: %d %s", code, errOut)
	}
	if code, _, errOut := ctl(t, map[string]string{"BINDERY_ADMIN_TOKEN": "x"}, "audit", "export", "--since", "yesterday"); code != exitProblem || !strings.Contains(errOut, "since") {
		t.Fatalf("bad filter: %d %s", code, errOut)
	}
}

// audit replay on 100k+ mixed events finds the live views equal; a view
// with a bug (it skips some updates) is reported with its differences.
// Under the race detector (CI) it runs on 20k events to stay within the
// package's time budget; a plain go test runs the full 100k.
func TestReplay(t *testing.T) {
	t.Parallel()
	env, vars := server(t)
	n := 100_000
	switch {
	case testing.Short():
		n = 10_000
	case raceEnabled:
		n = 20_000
	}
	start := time.Now()
	p := publish(t, env, n, Mixed)
	t.Logf("published %d events in %v", p.Count(), time.Since(start))
	// Some through the API too, so claims and real commands are part of it.
	for i := 0; i < 20; i++ {
		r := env.Admin("POST", "/v1/accounts", map[string]any{"username": fmt.Sprintf("api%d", i), "display_name": "Via API", "phone": fmt.Sprintf("+8613900%06d", i)})
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
	}
	start = time.Now()
	code, out, errOut := ctl(t, vars, "audit", "replay")
	t.Logf("replay in %v:\n%s%s", time.Since(start), out, errOut)
	if code != exitOK {
		t.Fatalf("replay found differences (exit %d):\n%s\n%s", code, out, errOut)
	}
	for _, name := range env.App.Engine.ViewNames() {
		if !strings.Contains(out, name) || strings.Contains(out, "cannot rebuild") {
			t.Fatalf("view %s not compared:\n%s", name, out)
		}
	}
	if !strings.Contains(out, fmt.Sprintf("replayed %d events", p.Count()+20)) {
		t.Fatalf("replay output:\n%s", out)
	}

	var stderr bytes.Buffer
	c := &cli{stdout: &bytes.Buffer{}, stderr: &stderr, getenv: func(k string) string { return vars[k] }}
	faulty := func() []projections.Projection {
		views := projections.NewSet().All()
		views[0] = &skipper{Projection: views[0], every: 1000}
		return views
	}
	code = replayWith(context.Background(), c, []string{"--json"}, faulty)
	var rep struct {
		OK    bool
		Views []struct {
			Name        string
			Equal       bool
			Differences []string
		}
	}
	if err := json.Unmarshal(c.stdout.(*bytes.Buffer).Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, c.stdout)
	}
	if code != exitFailed || rep.OK || rep.Views[0].Name != "accounts" || rep.Views[0].Equal || len(rep.Views[0].Differences) == 0 {
		t.Fatalf("faulty view not reported (exit %d): %+v", code, rep)
	}
	if d := rep.Views[0].Differences[0]; !strings.Contains(d, "display_name") || !strings.Contains(d, "live \"Renamed") {
		t.Fatalf("difference not readable: %q", d)
	}
	for _, v := range rep.Views[1:] {
		if !v.Equal {
			t.Fatalf("view %s differs: %v", v.Name, v.Differences)
		}
	}
}

// skipper is a view with a bug on purpose: it drops every n-th
// account_updated.
type skipper struct {
	projections.Projection
	every, seen int
}

func (s *skipper) Reducers() []projections.Reducer {
	rs := s.Projection.Reducers()
	for i, r := range rs {
		if _, ok := r.Event.(events.AccountUpdated); ok {
			reduce := r.Reduce
			rs[i].Reduce = func(r events.Record) {
				if s.seen++; s.seen%s.every == 0 {
					return
				}
				reduce(r)
			}
		}
	}
	return rs
}

// audit export pages through the API and writes exactly the events, in
// the API's order; audit verify reads the streams over NATS.
func TestExportAndVerify(t *testing.T) {
	env, vars := server(t)
	p := publish(t, env, 2_345, Mixed)
	file := filepath.Join(t.TempDir(), "out.ndjson")
	code, _, errOut := ctl(t, vars, "audit", "export", "--page", "500", "-o", file)
	if code != exitOK || !strings.Contains(errOut, fmt.Sprintf("exported %d events", p.Count())) {
		t.Fatalf("export (%d): %s", code, errOut)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	seen := map[string]bool{}
	for _, l := range lines {
		var e struct{ ID, Stream string }
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.ID == "" || seen[e.ID] {
			t.Fatalf("line %q: %v (repeat %v)", l, err, seen[e.ID])
		}
		seen[e.ID] = true
	}
	if len(seen) != p.Count() {
		t.Fatalf("exported %d distinct events, want %d", len(seen), p.Count())
	}
	// A filtered export.
	code, out, _ := ctl(t, vars, "audit", "export", "--type", "session_issued", "--max", "10")
	if code != exitOK || strings.Count(out, "\n") != 10 || strings.Count(out, "bindery.session_issued.v1") != 10 {
		t.Fatalf("filtered export (%d):\n%s", code, out)
	}

	// Verify: unsealed is fine; sealed is fine; pinned to another key fails.
	if r := env.Admin("POST", "/v1/audit/seal", nil); r.Status != 200 {
		t.Fatalf("seal: %d %s", r.Status, r.Body)
	}
	code, out, errOut = ctl(t, vars, "audit", "verify")
	var rep struct {
		OK          bool
		Events      int
		Checkpoints int
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK || !rep.OK || rep.Events != p.Count() || rep.Checkpoints == 0 {
		t.Fatalf("verify (%d): %s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "verified [") || !strings.Contains(errOut, "100%") {
		t.Fatalf("no progress bar: %s", errOut)
	}
	code, _, errOut = ctl(t, vars, "audit", "verify", "--key", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if code != exitFailed || !strings.Contains(errOut, "bad_signature") {
		t.Fatalf("verify with a foreign key (%d): %s", code, errOut)
	}
}

// events tail prints live events, filtered, one line each.
func TestEventsTail(t *testing.T) {
	env, vars := server(t)
	js := env.App.Store.JetStream()
	consumers := func() int {
		n := 0
		for _, name := range []string{"BINDERY_HISTORY", "BINDERY_AUTHLOG"} {
			st, err := js.Stream(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			n += st.CachedInfo().State.Consumers
		}
		return n
	}
	before := consumers()
	var wg sync.WaitGroup
	var code int
	var out, errOut string
	wg.Add(1)
	go func() {
		defer wg.Done()
		code, out, errOut = ctl(t, vars, "events", "tail", "--type", "account_created", "--count", "2")
	}()
	// Write only once the tail listens (it starts with the next event).
	testenv.Eventually(t, 10*time.Second, func() bool { return consumers() >= before+2 })
	for i := 0; i < 3; i++ {
		r := env.Admin("POST", "/v1/accounts", map[string]any{"display_name": fmt.Sprintf("Tail %d", i)})
		if r.Status != 201 {
			t.Fatal(r.Status)
		}
		r = env.Admin("PATCH", "/v1/accounts/"+r.Map(t)["id"].(string), map[string]any{"display_name": "x"})
		if r.Status != 200 {
			t.Fatal(r.Status)
		}
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 2 || !strings.Contains(lines[0], " history#") || !strings.Contains(lines[0], " account_created actor=admin:") || !strings.Contains(lines[0], `"display_name":"Tail 0"`) {
		t.Fatalf("tail (%d):\n%s\n%s", code, out, errOut)
	}
}
