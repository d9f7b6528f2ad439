package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// benchLatency summarises one set of request durations.
type benchLatency struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func benchSummary(ds []time.Duration) benchLatency {
	if len(ds) == 0 {
		return benchLatency{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(ds)))) - 1
		return millis(ds[max(i, 0)])
	}
	return benchLatency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: millis(ds[len(ds)-1])}
}

func millis(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// benchResult is what a run measured (printed as text, or JSON with --json).
type benchResult struct {
	App         string         `json:"app"`
	Users       int            `json:"users"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	Logins      int            `json:"logins"`
	PerSecond   float64        `json:"logins_per_second"`
	Latency     benchLatency   `json:"latency"`
	Errors      map[string]int `json:"errors"`
	// OutOfCodes is set when the pre-minted codes ran out before the
	// duration (the rate is then over the shorter time).
	OutOfCodes bool `json:"out_of_codes,omitempty"`
	// WeChatPerUserMinute is the code2session calls per user per minute
	// the timed phase made (wxsim refuses more than 100).
	WeChatPerUserMinute float64 `json:"wechat_calls_per_user_minute"`
	// ServerCores and ServerCPUPerLogin are the CPU the server process
	// used in the timed phase (process_cpu_seconds_total of its /metrics),
	// in cores and per login; the latter varies less than the rate when
	// other work shares the machine.
	ServerCores       float64 `json:"server_cores,omitempty"`
	ServerCPUPerLogin float64 `json:"server_cpu_ms_per_login,omitempty"`
	// Replicas splits the figures by replica when --url named several
	// (ServerCores is then their sum).
	Replicas []benchReplica `json:"replicas,omitempty"`
	// ClientCores is what this process (the load generator) used.
	ClientCores  float64     `json:"client_cores"`
	Raw          *rawResult  `json:"raw,omitempty"`
	Ratio        float64     `json:"ratio,omitempty"`
	RawError     string      `json:"raw_error,omitempty"`
	Hints        []string    `json:"hints,omitempty"`
	errorDetails benchSample // one detail per error key, for the hints
}

// benchReplica is one replica's share of a run over several (--url a,b).
type benchReplica struct {
	URL       string       `json:"url"`
	Logins    int          `json:"logins"`
	PerSecond float64      `json:"logins_per_second"`
	Latency   benchLatency `json:"latency"`
	Cores     float64      `json:"cores,omitempty"`
}

// benchSample keeps the first problem detail seen for each error key.
type benchSample map[string]string

// benchErrors counts failures by "<status> <code>" across workers.
type benchErrors struct {
	mu     sync.Mutex
	counts map[string]int
	detail benchSample
}

func newBenchErrors() *benchErrors {
	return &benchErrors{counts: map[string]int{}, detail: benchSample{}}
}

func (e *benchErrors) add(key, detail string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts[key]++
	if _, ok := e.detail[key]; !ok {
		e.detail[key] = detail
	}
}

func (e *benchErrors) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.counts {
		n += c
	}
	return n
}

func (e *benchErrors) snapshot() (map[string]int, benchSample) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.counts), maps.Clone(e.detail)
}

// benchHints explains errors whose cause is the setup rather than the server.
func benchHints(errs map[string]int, details benchSample) []string {
	var out []string
	for key := range errs {
		if !strings.HasPrefix(key, "429 ") {
			continue
		}
		d := details[key]
		switch {
		case strings.Contains(d, "WeChat"):
			out = append(out, "429: wxsim's per-user limit (100 code2session calls per user per minute) was reached: use more --users")
		default:
			out = append(out, "429: the server's per-IP rate limit refused requests: start bindery with BINDERY_RATE_LIMIT=0 for a load test")
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func benchErrorList(counts map[string]int, details benchSample) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d× %s", counts[k], k)
		if d := details[k]; d != "" {
			fmt.Fprintf(&b, " (%s)", d)
		}
	}
	return b.String()
}

func benchHintText(counts map[string]int, details benchSample) string {
	h := benchHints(counts, details)
	if len(h) == 0 {
		return ""
	}
	return "\n" + strings.Join(h, "\n")
}

// Goals of the login path: logins at least 0.15 of the raw publish rate,
// with p99 under 20 ms at that load (issue 14; issue 3 asked for 0.25,
// above what a login's CPU allows on this kind of machine: ~0.2).
const (
	goalRatio = 0.15
	goalP99ms = 20
)

func (r *benchResult) print(w io.Writer) {
	fmt.Fprintf(w, "Mini-program login (returning users): app %s, %d users, %d clients\n", r.App, r.Users, r.Concurrency)
	fmt.Fprintf(w, "  logins      %d in %.2fs = %.1f/s\n", r.Logins, r.Seconds, r.PerSecond)
	fmt.Fprintf(w, "  latency     p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	if len(r.Errors) == 0 {
		fmt.Fprintf(w, "  errors      none\n")
	} else {
		fmt.Fprintf(w, "  errors      %s\n", benchErrorList(r.Errors, r.errorDetails))
	}
	if r.ServerCores > 0 {
		fmt.Fprintf(w, "  cpu         server %.2f cores, %.3f ms per login; load generator %.2f cores\n", r.ServerCores, r.ServerCPUPerLogin, r.ClientCores)
	}
	for _, rep := range r.Replicas {
		fmt.Fprintf(w, "  replica     %s: %d logins = %.1f/s, p99 %.2fms, %.2f cores\n", rep.URL, rep.Logins, rep.PerSecond, rep.Latency.P99, rep.Cores)
	}
	// The run is usually shorter than wxsim's one-minute window; the figure
	// says what a minute at this rate would need.
	fmt.Fprintf(w, "  wechat      %.1f code2session calls per user per minute at this rate (wxsim allows %d: a minute of it needs >= %d users)\n",
		r.WeChatPerUserMinute, wxsimMinuteQuota, int(math.Ceil(r.PerSecond*60/wxsimMinuteQuota)))
	if r.Raw != nil {
		synced := "acks not waiting for a disk sync"
		if r.Raw.Synced {
			synced = "each ack after a group sync of the disk, as the server's"
		}
		fmt.Fprintf(w, "  raw publish %d in %.2fs = %.1f/s (JetStream sync publish, %d publishers, stream %s, file storage, R%d, %s; p50 %.2fms p99 %.2fms)\n",
			r.Raw.Publishes, r.Raw.Seconds, r.Raw.PerSecond, r.Raw.Publishers, benchStream, r.Raw.Replicas, synced, r.Raw.Latency.P50, r.Raw.Latency.P99)
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "not met"
		}
		fmt.Fprintf(w, "  ratio       %.3fx raw (goal >= %.2fx: %s; p99 goal < %d ms: %s)\n", r.Ratio,
			goalRatio, verdict(r.Ratio >= goalRatio), goalP99ms, verdict(r.Latency.P99 < goalP99ms))
	}
	for _, h := range r.Hints {
		fmt.Fprintf(w, "  note        %s\n", h)
	}
}
