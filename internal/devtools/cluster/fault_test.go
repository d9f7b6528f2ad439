package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/cluster"
	"github.com/bindery/bindery/internal/devtools/wxsim"
)

// serverDeadline is the replicas' request deadline (handlers'
// RequestTimeout default); a request answered later than that plus a
// margin for this loaded machine hung.
const serverDeadline = 10 * time.Second

// fault is one injected failure: do starts it, undo (if any) ends it
// after hold.
type fault struct {
	name       string
	do, undo   func(t *testing.T)
	probe      func(t *testing.T) // run halfway through the hold (diagnosis), if set
	hold       time.Duration
	start, end time.Time // when it was injected and undone
}

// The production shape of docker-compose.yml under faults: three
// JetStream nodes (fsync before acknowledging, R3 streams), two bindery
// replicas, logins, racing registrations and cross-replica QR logins
// running, while (a) the history stream's leader is killed with SIGKILL
// and restarted, (b) a replica is cut off from every node and healed, and
// (c) a node is partitioned from the other nodes and every client, then
// healed. Every request must succeed or answer 503 with Retry-After
// within its deadline; afterwards every acknowledged write is in the
// streams and no identity is bound to two accounts. The short form holds
// each fault a few seconds (make test); BINDERY_FAULTS_LONG=1 (make
// test-faults) holds them 20 s with more load.
func TestFaultsUnderLoad(t *testing.T) {
	long := os.Getenv("BINDERY_FAULTS_LONG") != ""
	hold, workers := 5*time.Second, [3]int{3, 1, 1}
	if long {
		hold, workers = 20*time.Second, [3]int{8, 2, 2}
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bins, err := cluster.Build(ctx, filepath.Join(dir, "bin"), "bindery")
	if err != nil {
		t.Fatal(err)
	}
	sim := httptest.NewServer(wxsim.New(wxsim.Options{}))
	defer sim.Close()
	ns, err := cluster.NewNATS(ctx, filepath.Join(dir, "nats"), cluster.NATSOptions{SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var reps []*cluster.Replica
	// At info, a replica's first "nats connected" line names its node.
	opts := cluster.ReplicaOptions{WeChatAPI: sim.URL, Env: []string{"BINDERY_LOG_LEVEL=info"}}
	for i := range 2 {
		r, err := ns.StartReplica(ctx, bins["bindery"], filepath.Join(dir, fmt.Sprintf("bindery%d", i+1)), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Stop()
		reps = append(reps, r)
	}
	w := setupWorkload(t, sim.URL, reps)
	// Registered users to log in and scan with before the faults begin:
	// enough that no one of them passes WeChat's quota of 100 logins a
	// minute (wxsim enforces it) at the long form's rate.
	users := 8
	if long {
		users = 48
	}
	for i := 0; len(w.Users()) < users; i++ {
		if i > 10*users {
			t.Fatalf("could not register users before the faults: %v", w.Requests())
		}
		w.Register(ctx, i)
	}
	setupCost := time.Since(began)

	faults := []*fault{
		{name: "(a) history stream leader killed (SIGKILL), restarted after the hold"},
		{name: "(b) replica 2 cut off from every NATS node, healed after the hold"},
		{name: "(c) a NATS node partitioned from nodes and clients, healed after the hold"},
	}
	var victim int
	faults[0].do = func(t *testing.T) {
		if victim, err = ns.StreamLeader(ctx, "BINDERY_HISTORY"); err != nil {
			t.Fatal(err)
		}
		ns.Kill(victim)
	}
	faults[0].undo = func(t *testing.T) {
		if err := ns.Restart(victim); err != nil {
			t.Fatal(err)
		}
	}
	faults[1].do = func(*testing.T) { ns.CutClient(reps[1].Client) }
	faults[1].undo = func(*testing.T) { ns.HealClient(reps[1].Client) }
	faults[2].do = func(t *testing.T) {
		if victim, err = ns.StreamLeader(ctx, "BINDERY_AUTHLOG"); err != nil {
			t.Fatal(err)
		}
		ns.Partition(victim)
	}
	faults[2].undo = func(*testing.T) { ns.HealPartition(victim) }
	// How the cluster looks from each node while one is partitioned: who
	// leads the meta group and each stream (a node answering "JetStream
	// system temporarily unavailable" sees no leader for one of them).
	views := func(t *testing.T) {
		for i := range ns.Nodes() {
			t.Logf("%s, partitioned: %s", faults[2].name, ns.View(ctx, i))
		}
	}
	faults[2].probe = views

	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() { w.Run(loadCtx, workers[0], workers[1], workers[2]); close(loadDone) }()
	waitSuccesses(t, w, time.Now(), 20)
	for _, f := range faults {
		f.hold = hold
		f.start = time.Now()
		f.do(t)
		waitFor(t, f.hold/2)
		if f.probe != nil {
			f.probe(t)
		}
		waitFor(t, f.hold-f.hold/2)
		f.undo(t)
		f.end = time.Now()
		if err := ns.WaitHealthy(ctx); err != nil {
			t.Fatal(err)
		}
		recovered(t, w, f, reps)
	}
	stopLoad()
	<-loadDone
	checkOutcomes(t, w, faults)
	for _, f := range faults {
		t.Logf("%s: from %s to %s", f.name, f.start.Format(clock), f.end.Format(clock))
	}
	for i, r := range reps {
		log := replicaLog(r)
		for _, line := range storeErrors(log) {
			t.Logf("replica %d: %s", i+1, line)
		}
		for _, line := range natsEvents(log) {
			t.Logf("replica %d: %s", i+1, line)
		}
	}
	checkStored(t, ctx, ns, w)
	t.Logf("cost: %s in all (building, starting the cluster and replicas, registering users: %s)", time.Since(began).Round(time.Second), setupCost.Round(time.Second))
}

// waitFor lets d pass while the load runs (the fault's duration is the
// point of the test, not a guess at when something is done).
func waitFor(t *testing.T, d time.Duration) {
	t.Helper()
	<-time.After(d)
}

func setupWorkload(t *testing.T, simURL string, reps []*cluster.Replica) *cluster.Workload {
	t.Helper()
	appid := fmt.Sprintf("wxfault%d", time.Now().UnixNano()%1e6)
	post := func(url, body string, want int, hdr ...string) http.Header {
		req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
		if strings.Contains(url, "/sim/") {
			req.Method = http.MethodPost
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+cluster.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s: %d", url, resp.StatusCode)
		}
		return resp.Header
	}
	post(simURL+"/sim/apps", `{"appid":"`+appid+`","secret":"fault-secret-0123456789abcdef"}`, 201)
	h := post(reps[0].URL+"/v1/apps/shop", `{"name":"Shop","kind":"wechat","wechat":{"appid":"`+appid+`","secret":"fault-secret-0123456789abcdef"},"match_rules":["openid"],"on_no_match":"register","qr":{"mode":"link"}}`, 201)
	var urls []string
	for _, r := range reps {
		urls = append(urls, r.URL)
		resp, err := http.Get(r.URL + "/v1/apps/shop?min_position=" + h.Get("X-Bindery-Position"))
		if err == nil {
			resp.Body.Close()
		}
	}
	return &cluster.Workload{Replicas: urls, Sim: simURL, App: "shop", AppID: appid, Timeout: serverDeadline + 10*time.Second}
}

// waitSuccesses polls until n requests that started after since
// succeeded.
func waitSuccesses(t *testing.T, w *cluster.Workload, since time.Time, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		ok := 0
		for _, r := range w.Requests() {
			if r.Start.After(since) && r.Status/100 == 2 {
				ok++
			}
		}
		if ok >= n {
			return
		}
		<-time.After(100 * time.Millisecond)
	}
	t.Fatalf("fewer than %d requests succeeded within 2 minutes after %s", n, since.Format(time.TimeOnly))
}

// recovered waits until the load runs clean again after f: 3 s with
// requests answered and none failed, on both replicas.
func recovered(t *testing.T, w *cluster.Workload, f *fault, reps []*cluster.Replica) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		lastFail := f.end
		okAfter := map[int]int{}
		for _, r := range w.Requests() {
			if r.Start.Before(f.start) {
				continue
			}
			if r.Status/100 != 2 && r.Status != http.StatusConflict && r.End.After(lastFail) {
				lastFail = r.End
			}
		}
		for _, r := range w.Requests() {
			if r.Start.After(lastFail) && r.Status/100 == 2 {
				okAfter[r.Replica]++
			}
		}
		if time.Since(lastFail) > 3*time.Second && okAfter[0] > 0 && okAfter[1] > 0 {
			return
		}
		<-time.After(200 * time.Millisecond)
	}
	seen := map[string]int{}
	for _, r := range w.Requests() {
		if r.Start.After(f.end) && r.Status/100 != 2 {
			seen[fmt.Sprintf("replica %d %s %d %s %.60s", r.Replica+1, r.Op, r.Status, r.Code, r.Err)]++
		}
	}
	t.Fatalf("%s: the load did not run clean within 3 minutes of healing; failures since: %v\nreplica 2's log: %s", f.name, seen, reps[1].LogTail())
}

// checkOutcomes classifies each fault's requests and fails on any that
// neither succeeded nor answered 503 with Retry-After in time.
func checkOutcomes(t *testing.T, w *cluster.Workload, faults []*fault) {
	t.Helper()
	reqs := w.Requests()
	var failures []string
	t.Logf("| fault | requests | 2xx | 503 + Retry-After | 409 (the racing second registration) | other | slowest | last failure after the fault began | after it was healed |")
	t.Logf("|---|---|---|---|---|---|---|---|---|")
	for k, f := range faults {
		until := time.Now()
		if k+1 < len(faults) {
			until = faults[k+1].start
		}
		var n, ok, unavailable, conflict, other int
		var slowest time.Duration
		lastFail := time.Time{}
		for _, r := range reqs {
			if r.Start.Before(f.start) || !r.Start.Before(until) {
				continue
			}
			n++
			d := r.End.Sub(r.Start)
			slowest = max(slowest, d)
			limit := serverDeadline + 5*time.Second
			if r.Op == "qr_poll" {
				limit += 5 * time.Second
			}
			switch {
			case d > limit:
				other++
				t.Errorf("%s: %s on replica %d took %s (deadline %s): %d %s %s", f.name, r.Op, r.Replica+1, d, limit, r.Status, r.Code, r.Err)
			case r.Status/100 == 2:
				ok++
			case r.Status == http.StatusServiceUnavailable && r.RetryAfter != "":
				unavailable++
			case r.Status == http.StatusConflict && r.Op == "register":
				conflict++
			default:
				other++
				t.Errorf("%s: %s on replica %d: %d %q %s (request %s)", f.name, r.Op, r.Replica+1, r.Status, r.Code, r.Err, r.RequestID)
			}
			if r.Status/100 != 2 && r.Status != http.StatusConflict && r.End.After(lastFail) {
				lastFail = r.End
			}
		}
		rec, healed := "no failure", "-"
		if !lastFail.IsZero() {
			rec = lastFail.Sub(f.start).Round(100 * time.Millisecond).String()
			healed = max(0, lastFail.Sub(f.end)).Round(100 * time.Millisecond).String()
		}
		t.Logf("| %s (held %s) | %d | %d | %d | %d | %d | %s | %s | %s |", f.name, f.hold, n, ok, unavailable, conflict, other, slowest.Round(10*time.Millisecond), rec, healed)
		failures = append(failures, failuresOf(f, reqs, until)...)
	}
	// Which requests failed, and when (seconds after each fault began): what
	// a recovery time is made of.
	for _, line := range failures {
		t.Log(line)
	}
}

// failuresOf groups a fault's failed requests by operation, replica and
// problem code, with the window in which they began and ended.
func failuresOf(f *fault, reqs []cluster.Request, until time.Time) []string {
	type group struct {
		n                   int
		firstStart, lastEnd time.Duration
		slowest             time.Duration
		perSecond           []int // failures by the second they began in
	}
	groups := map[string]*group{}
	var keys []string
	for _, r := range reqs {
		if r.Start.Before(f.start) || !r.Start.Before(until) || r.Status/100 == 2 || r.Status == http.StatusConflict {
			continue
		}
		key := fmt.Sprintf("%s on replica %d: %d %s", r.Op, r.Replica+1, r.Status, r.Code)
		g := groups[key]
		if g == nil {
			g = &group{firstStart: r.Start.Sub(f.start)}
			groups[key] = g
			keys = append(keys, key)
		}
		g.n++
		sec := int(r.Start.Sub(f.start) / time.Second)
		for len(g.perSecond) <= sec {
			g.perSecond = append(g.perSecond, 0)
		}
		g.perSecond[sec]++
		g.lastEnd = max(g.lastEnd, r.End.Sub(f.start))
		g.slowest = max(g.slowest, r.End.Sub(r.Start))
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		g := groups[k]
		out = append(out, fmt.Sprintf("%s: %s ×%d, began from %.1f s, ended by %.1f s (slowest %.1f s); began per second: %v", f.name, k, g.n, g.firstStart.Seconds(), g.lastEnd.Seconds(), g.slowest.Seconds(), g.perSecond))
	}
	return out
}

// checkStored reads both streams: every acknowledged write left an event
// with its request id, and no identity is bound to two accounts.
func checkStored(t *testing.T, ctx context.Context, ns *cluster.NATS, w *cluster.Workload) {
	t.Helper()
	ids := map[string]bool{}
	owners := map[string]map[string]bool{} // claim value -> accounts
	for _, stream := range []string{"BINDERY_HISTORY", "BINDERY_AUTHLOG"} {
		evs, err := ns.ReadStream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			ids[e.RequestID] = true
			bound := strings.HasPrefix(e.Type, "bindery.identity_bound.v")
			if bound || strings.HasPrefix(e.Type, "bindery.identity_unbound.v") {
				// The binding id is derived from the identity (kind and claim
				// value), so it names one identity even where the subject is
				// sealed in the event.
				var b struct {
					AccountID string `json:"account_id"`
					BindingID string `json:"binding_id"`
				}
				if err := json.Unmarshal(e.Data, &b); err != nil {
					t.Fatal(err)
				}
				key := b.BindingID
				if owners[key] == nil {
					owners[key] = map[string]bool{}
				}
				owners[key][b.AccountID] = bound
			}
		}
	}
	acked, lost := 0, 0
	for _, r := range w.Requests() {
		if !r.Write {
			continue
		}
		acked++
		if !ids[r.RequestID] {
			lost++
			t.Errorf("acknowledged %s on replica %d (request %s, answered %d) is not in the streams", r.Op, r.Replica+1, r.RequestID, r.Status)
		}
	}
	double, bound := 0, 0
	for key, accts := range owners {
		n := 0
		for _, isBound := range accts {
			if isBound {
				n++
			}
		}
		bound++
		if n > 1 {
			double++
			t.Errorf("identity %s is bound to %d accounts", key, n)
		}
	}
	if bound == 0 || acked == 0 {
		t.Fatalf("nothing to check: %d identities bound, %d writes acknowledged", bound, acked)
	}
	t.Logf("acknowledged writes: %d, lost: %d; identities bound: %d, bound twice: %d", acked, lost, bound, double)
}

// logEntry is what the fault listing reads of a replica's JSON log line.
type logEntry struct {
	Time                   time.Time
	Msg, Err, Path, Server string
}

// replicaLog is the replica's log, one entry per JSON line.
func replicaLog(r *cluster.Replica) []logEntry {
	data, _ := os.ReadFile(filepath.Join(r.Dir, "bindery.log"))
	var out []logEntry
	for _, line := range strings.Split(string(data), "\n") {
		var e logEntry
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// storeErrors counts the distinct errors behind a replica's 503
// store_unavailable answers (its log's "store unavailable" lines).
func storeErrors(log []logEntry) []string {
	counts := map[string]int{}
	for _, e := range log {
		if e.Msg == "store unavailable" {
			counts[e.Path+": "+ids.ReplaceAllString(e.Err, "…")]++
		}
	}
	out := make([]string, 0, len(counts))
	for k, n := range counts {
		out = append(out, fmt.Sprintf("%d× %s", n, k))
	}
	sort.Strings(out)
	return out
}

// ids matches the ids and hashes in store errors, which would make each
// error line its own.
var ids = regexp.MustCompile(`[0-9a-f-]{32,}|[A-Za-z0-9_-]{22}\b`)

// clock is how the fault log prints wall-clock times.
const clock = "15:04:05.000"

// natsEvents is what the replica logged about its NATS connection (which
// node it left, and when, and which one it found), in order.
func natsEvents(log []logEntry) []string {
	var out []string
	for _, e := range log {
		if strings.HasPrefix(e.Msg, "nats ") {
			out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s %s %s", e.Time.Format(clock), e.Msg, e.Server, e.Err)))
		}
	}
	return out
}
