package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// drive runs logins with the configured concurrency until d has passed or
// the codes are used up. report, when set, is called about every 2 s.
// byReplica holds the same latencies grouped by the replica (--url) that
// answered them.
func (b *benchClient) drive(ctx context.Context, a benchApp, codes []benchCode, d time.Duration, report func(done, failed int, elapsed time.Duration)) (ok []time.Duration, byReplica [][]time.Duration, errs *benchErrors, elapsed time.Duration, outOfCodes bool) {
	errs = newBenchErrors()
	var next, okCount atomic.Int64
	var ran atomic.Bool
	perWorker := make([][]time.Duration, b.cfg.concurrency)
	start := time.Now()
	deadline := start.Add(d)
	stopReport := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		if report == nil {
			return
		}
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopReport:
				return
			case <-t.C:
				report(int(okCount.Load()), errs.total(), time.Since(start))
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range b.cfg.concurrency {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1024)
			defer func() { perWorker[w] = lat }()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= len(codes) {
					ran.Store(true)
					return
				}
				t0 := time.Now()
				ans, err := b.login(ctx, b.replica(w), a.id, codes[i].code)
				took := time.Since(t0)
				var ce *benchError
				switch {
				case errors.As(err, &ce):
					errs.add(ce.key(), ce.Detail)
				case err != nil:
					errs.add("bad answer", err.Error())
				case ans.Status != "OK" || ans.IDToken == "":
					errs.add("200 "+ans.Status, "a returning user's login did not answer OK")
				case ans.AccountID != codes[i].account:
					errs.add("200 wrong account", "logged in to another account than the user registered")
				default:
					lat = append(lat, took)
					okCount.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	close(stopReport)
	<-reported
	byReplica = make([][]time.Duration, len(b.cfg.urls))
	for w, l := range perWorker {
		ok = append(ok, l...)
		byReplica[w%len(b.cfg.urls)] = append(byReplica[w%len(b.cfg.urls)], l...)
	}
	return ok, byReplica, errs, elapsed, ran.Load()
}

func runBench(ctx context.Context, c *cli, cfg benchConfig) (*benchResult, error) {
	b := newBenchClient(cfg)
	defer b.http.CloseIdleConnections()
	a, err := b.setupApp(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.stderr, "bench login: app %s (wxsim appid %s), %d users, %d clients\n", a.id, a.appid, cfg.users, cfg.concurrency)
	users, err := b.registerUsers(ctx, c, a)
	if err != nil {
		return nil, err
	}
	budget := len(users) * benchPerUserCodes
	used := 0

	// Warm-up: warms the server's caches and connections, and measures the
	// rate that decides how many codes the timed phase needs.
	rate := 0.0
	if cfg.warmup > 0 {
		n := min(budget/4, max(cfg.concurrency*32, 3000))
		codes, err := b.mint(ctx, c, a, users, used, n, "minting warm-up codes")
		if err != nil {
			return nil, err
		}
		used += n
		ok, _, errs, took, _ := b.drive(ctx, a, codes, cfg.warmup, nil)
		if counts, details := errs.snapshot(); len(counts) > 0 {
			return nil, fmt.Errorf("warm-up logins failed: %s%s", benchErrorList(counts, details), benchHintText(counts, details))
		}
		rate = float64(len(ok)) / took.Seconds()
		fmt.Fprintf(c.stderr, "warm-up: %d logins in %.1fs (%.0f/s)\n", len(ok), took.Seconds(), rate)
	}
	n := cfg.codes
	if n == 0 {
		// Twice the warm-up rate: a warm server runs faster than one
		// that is warming up.
		n = int(rate*cfg.duration.Seconds()*2) + 4*cfg.concurrency
		if rate == 0 {
			n = budget - used
		}
	}
	if n > budget-used {
		fmt.Fprintf(c.stderr, "bench login: %d users allow %d more logins (wxsim: 100 per user per minute); minting that many, so the run may end early (use more --users)\n", len(users), budget-used)
		n = budget - used
	}
	if n <= 0 {
		return nil, fmt.Errorf("no codes left for the timed phase: use more --users")
	}
	codes, err := b.mint(ctx, c, a, users, used, n, "minting codes")
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(c.stderr, "timed logins: %d clients for %s\n", cfg.concurrency, cfg.duration)
	stopProfile, err := startProfile(cfg.cpuprofile)
	if err != nil {
		return nil, err
	}
	serverCPU0, serverErr := b.serverCPU(ctx)
	clientCPU0 := processCPU()
	ok, byReplica, errs, took, out := b.drive(ctx, a, codes, cfg.duration, func(done, failed int, elapsed time.Duration) {
		fmt.Fprintf(c.stderr, "  %5.1fs  %7d logins  %6.0f/s  %d errors\n", elapsed.Seconds(), done, float64(done)/elapsed.Seconds(), failed)
	})
	clientCPU := processCPU() - clientCPU0
	serverCPU1, err := b.serverCPU(ctx)
	serverErr = errors.Join(serverErr, err)
	if err := stopProfile(); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	counts, details := errs.snapshot()
	res := &benchResult{
		App: a.id, Users: len(users), Concurrency: cfg.concurrency, Seconds: math.Round(took.Seconds()*100) / 100,
		Logins: len(ok), PerSecond: math.Round(float64(len(ok))/took.Seconds()*10) / 10,
		Latency: benchSummary(ok), Errors: counts, OutOfCodes: out, errorDetails: details,
	}
	res.ClientCores = math.Round(clientCPU.Seconds()/took.Seconds()*100) / 100
	if serverErr == nil && len(ok) > 0 {
		used := 0.0
		for i := range serverCPU1 {
			used += serverCPU1[i] - serverCPU0[i]
		}
		res.ServerCores = math.Round(used/took.Seconds()*100) / 100
		res.ServerCPUPerLogin = math.Round(used/float64(len(ok))*1e6) / 1e3
	}
	if len(cfg.urls) > 1 {
		for i, lat := range byReplica {
			r := benchReplica{URL: cfg.urls[i], Logins: len(lat), PerSecond: math.Round(float64(len(lat))/took.Seconds()*10) / 10, Latency: benchSummary(lat)}
			if serverErr == nil {
				r.Cores = math.Round((serverCPU1[i]-serverCPU0[i])/took.Seconds()*100) / 100
			}
			res.Replicas = append(res.Replicas, r)
		}
	}
	if serverErr != nil {
		fmt.Fprintf(c.stderr, "bench login: no server CPU figures: %v\n", serverErr)
	}
	res.WeChatPerUserMinute = math.Round(float64(len(ok)+errs.total())/took.Seconds()*60/float64(len(users))*10) / 10
	res.Hints = benchHints(counts, details)
	if out {
		res.Hints = append(res.Hints, fmt.Sprintf("the %d pre-minted codes ran out after %.1fs: the rate is over that time (use --codes or more --users)", len(codes), took.Seconds()))
	}

	if cfg.rawFor > 0 {
		// A failure here keeps the login figures: they took the longest.
		raw, err := rawPublish(ctx, c, cfg)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			res.RawError = err.Error()
			res.Hints = append(res.Hints, fmt.Sprintf("no raw publish rate: %v (is --nats the server's NATS, BINDERY_NATS_LISTEN? --raw-duration 0 skips it)", err))
		default:
			res.Raw = raw
			if raw.PerSecond > 0 {
				res.Ratio = math.Round(res.PerSecond/raw.PerSecond*1000) / 1000
			}
		}
	}
	return res, nil
}

// serverCPU reads process_cpu_seconds_total from each replica's /metrics.
func (b *benchClient) serverCPU(ctx context.Context) ([]float64, error) {
	out := make([]float64, len(b.cfg.urls))
	for i, base := range b.cfg.urls {
		v, err := b.replicaCPU(ctx, base)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", base, err)
		}
		out[i] = v
	}
	return out, nil
}

func (b *benchClient) replicaCPU(ctx context.Context, base string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("/metrics has no process_cpu_seconds_total")
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startProfile starts a CPU profile into path ("" = none); stop ends it.
func startProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	// The allocations of the timed phase beside it: the heap's allocation
	// profile at both ends (go tool pprof -base path.allocs-start path.allocs).
	if err := writeAllocs(path + ".allocs-start"); err != nil {
		pprof.StopCPUProfile()
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return errors.Join(f.Close(), writeAllocs(path+".allocs"))
	}, nil
}

// writeAllocs writes the allocation profile so far to path.
func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	return errors.Join(pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
}
