package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/cluster"
	"github.com/bindery/bindery/internal/devtools/wxsim"
)

// benchRun is the part of "binderyctl bench login --json" the table shows.
type benchRun struct {
	Logins    int     `json:"logins"`
	PerSecond float64 `json:"logins_per_second"`
	Latency   struct {
		P50 float64 `json:"p50_ms"`
		P99 float64 `json:"p99_ms"`
	} `json:"latency"`
	Errors      map[string]int `json:"errors"`
	ServerCores float64        `json:"server_cores"`
	CPUPerLogin float64        `json:"server_cpu_ms_per_login"`
	ClientCores float64        `json:"client_cores"`
	Replicas    []struct {
		PerSecond float64 `json:"logins_per_second"`
		Latency   struct {
			P99 float64 `json:"p99_ms"`
		} `json:"latency"`
		Cores float64 `json:"cores"`
	} `json:"replicas"`
	Raw *struct {
		PerSecond float64 `json:"per_second"`
	} `json:"raw"`
}

// TestBenchCluster is make bench-cluster: the login load generator against
// 1, 2 and 3 bindery replicas on a three-node R3 cluster (nodes fsync
// before acknowledging, as in docker-compose.yml), the clients spread over
// the replicas. Each measurement starts its replicas afresh, so that only
// the measured ones run. Settings: BENCH_CLUSTER_ARGS (binderyctl bench
// login flags), BENCH_CLUSTER_ROUNDS, BENCH_CLUSTER_REPLICAS ("1,2,3").
func TestBenchCluster(t *testing.T) {
	if os.Getenv("BINDERY_BENCH_CLUSTER") == "" {
		t.Skip("a benchmark: make bench-cluster (BINDERY_BENCH_CLUSTER=1)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bins, err := cluster.Build(ctx, filepath.Join(dir, "bin"), "bindery", "binderyctl")
	if err != nil {
		t.Fatal(err)
	}
	sim := httptest.NewServer(wxsim.New(wxsim.Options{}))
	defer sim.Close()
	ns, err := cluster.NewNATS(ctx, filepath.Join(dir, "nats"), cluster.NATSOptions{SyncAlways: os.Getenv("BENCH_CLUSTER_SYNC") != "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()

	args := strings.Fields(os.Getenv("BENCH_CLUSTER_ARGS"))
	if len(args) == 0 {
		args = []string{"--users", "1000", "--concurrency", "32", "--duration", "20s"}
	}
	rounds, _ := strconv.Atoi(os.Getenv("BENCH_CLUSTER_ROUNDS"))
	rounds = max(rounds, 1)
	counts := []int{1, 2, 3}
	if v := os.Getenv("BENCH_CLUSTER_REPLICAS"); v != "" {
		counts = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 || n > 8 {
				t.Fatalf("BENCH_CLUSTER_REPLICAS %q", v)
			}
			counts = append(counts, n)
		}
	}
	var table []string
	runID := 0
	for round := range rounds {
		order := counts
		if round%2 == 1 { // interleave: 1,2,3 then 3,2,1
			order = reversed(counts)
		}
		for _, n := range order {
			runID++
			var reps []*cluster.Replica
			var urls []string
			for i := range n {
				r, err := ns.StartReplica(ctx, bins["bindery"], filepath.Join(dir, fmt.Sprintf("run%d-replica%d", runID, i+1)), cluster.ReplicaOptions{WeChatAPI: sim.URL})
				if err != nil {
					t.Fatal(err)
				}
				reps = append(reps, r)
				urls = append(urls, r.URL)
			}
			load0 := loadAverage()
			raw := "0"
			if n == counts[0] {
				raw = "5s"
			}
			res, natsCores, err := runBench(ctx, ns, bins["binderyctl"], sim.URL, urls, append(args, "--raw-duration", raw))
			for _, r := range reps {
				r.Stop()
			}
			if err != nil {
				t.Fatal(err)
			}
			line := formatRow(n, res, natsCores, load0)
			t.Log(line)
			table = append(table, line)
		}
	}
	fmt.Println("| replicas | logins/s | p50 | p99 | per replica: logins/s, p99, cores | bindery cores (all) | CPU per login | NATS nodes' cores | load generator cores | load average before | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, l := range table {
		fmt.Println(l)
	}
}

func reversed(s []int) []int {
	out := make([]int, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func loadAverage() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// runBench runs binderyctl bench login over urls and returns its result
// and the cores the NATS nodes used during the timed phase (from their
// /proc/<pid>/stat, between binderyctl's "timed logins" line and its next
// phase).
func runBench(ctx context.Context, ns *cluster.NATS, bin, simURL string, urls, args []string) (*benchRun, float64, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"bench", "login", "--json"}, args...)...)
	cmd.Env = append(os.Environ(), "BINDERY_URL="+strings.Join(urls, ","), "BINDERY_ADMIN_TOKEN="+cluster.AdminToken,
		"WXSIM_URL="+simURL, "BINDERY_NATS_URL="+ns.DirectURL(0))
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	var log strings.Builder
	var t0, t1 time.Time
	var cpu0, cpu1 time.Duration
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		switch {
		case strings.HasPrefix(line, "timed logins:"):
			t0, cpu0 = time.Now(), nodesCPU(ns)
		case strings.HasPrefix(line, "raw JetStream") && t1.IsZero():
			t1, cpu1 = time.Now(), nodesCPU(ns)
		}
	}
	err = cmd.Wait()
	if t1.IsZero() {
		t1, cpu1 = time.Now(), nodesCPU(ns)
	}
	var res benchRun
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		return nil, 0, fmt.Errorf("bench login: %v %v\n%s%s", err, jerr, log.String(), stdout.String())
	}
	if err != nil && len(res.Errors) == 0 {
		return nil, 0, fmt.Errorf("bench login: %v\n%s", err, log.String())
	}
	cores := 0.0
	if !t0.IsZero() {
		cores = (cpu1 - cpu0).Seconds() / t1.Sub(t0).Seconds()
	}
	return &res, cores, nil
}

func nodesCPU(ns *cluster.NATS) time.Duration {
	var sum time.Duration
	for i := range ns.Nodes() {
		if d, err := cluster.CPU(ns.Pid(i)); err == nil {
			sum += d
		}
	}
	return sum
}

func formatRow(n int, r *benchRun, natsCores float64, load string) string {
	var each []string
	for _, rep := range r.Replicas {
		each = append(each, fmt.Sprintf("%.0f/s, %.0f ms, %.2f", rep.PerSecond, rep.Latency.P99, rep.Cores))
	}
	if len(each) == 0 {
		each = []string{fmt.Sprintf("%.0f/s, %.0f ms, %.2f", r.PerSecond, r.Latency.P99, r.ServerCores)}
	}
	errs := "none"
	if len(r.Errors) > 0 {
		errs = fmt.Sprint(r.Errors)
	}
	raw := ""
	if r.Raw != nil {
		raw = fmt.Sprintf(" (raw R3 publishes %.0f/s)", r.Raw.PerSecond)
	}
	return fmt.Sprintf("| %d | %.0f%s | %.1f ms | %.1f ms | %s | %.2f | %.3f ms | %.2f | %.2f | %s | %s |",
		n, r.PerSecond, raw, r.Latency.P50, r.Latency.P99, strings.Join(each, "; "), r.ServerCores, r.CPUPerLogin, natsCores, r.ClientCores, load, errs)
}
