package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// wxsimMinuteQuota is WeChat's (and wxsim's) limit of code2session calls
// per user per minute; beyond it the server answers 429 rate_limited.
const wxsimMinuteQuota = 100

// benchPerUserCodes is how many logins one simulated user may take in a
// run: the quota less the registering login and a margin.
const benchPerUserCodes = wxsimMinuteQuota - 4

const benchLoginAbout = `Measures returning-user mini-program logins over HTTP, end to end: the
server exchanges each wx.login code at the WeChat simulator (wxsim), finds
the account, signs an id_token and appends the login and its session.

Phases (progress on stderr):
  1. app: create a wechat app "bench-<random>" at wxsim and on the server
     (or use --app, which wxsim must know and which must allow registration)
  2. users: create N simulated users at wxsim, log each in once and register
     it (USER_REGISTER -> /v1/register), so later logins are returning users
  3. warm-up: pre-mint codes at wxsim, run logins for --warmup to size step 4
  4. timed: pre-mint enough codes, then C keep-alive clients POST
     /v1/apps/{app}/login/code for --duration
  5. raw: with the same concurrency, sync-publish to a scratch JetStream
     stream (BINDERY_BENCH, file storage, deleted afterwards) on the
     server's NATS for --raw-duration: the ceiling the logins compare to

The server must run with BINDERY_RATE_LIMIT=0 (its per-IP limit would
answer 429). wxsim allows 100 logins per user per minute, so N must exceed
logins/s * 60 / 100; a run never hands one user more than 96 codes.
Exit code 1 when a timed login failed.`

// benchConfig is what "bench login" was asked to do.
type benchConfig struct {
	url, token, wxsim, nats, app string
	users, concurrency           int
	duration, warmup, rawFor     time.Duration
	codes                        int
	json                         bool
	cpuprofile                   string
}

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
	// ClientCores is what this process (the load generator) used.
	ClientCores  float64     `json:"client_cores"`
	Raw          *rawResult  `json:"raw,omitempty"`
	Ratio        float64     `json:"ratio,omitempty"`
	RawError     string      `json:"raw_error,omitempty"`
	Hints        []string    `json:"hints,omitempty"`
	errorDetails benchSample // one detail per error key, for the hints
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

func benchLogin(ctx context.Context, c *cli, args []string) int {
	fs := c.flagSet("bench login", "[flags]", benchLoginAbout)
	var cfg benchConfig
	fs.StringVar(&cfg.url, "url", c.env("BINDERY_URL", "http://127.0.0.1:8080"), "server base URL (BINDERY_URL)")
	fs.StringVar(&cfg.token, "admin-token", c.getenv("BINDERY_ADMIN_TOKEN"), "admin bearer token (BINDERY_ADMIN_TOKEN)")
	fs.StringVar(&cfg.token, "token", c.getenv("BINDERY_ADMIN_TOKEN"), "the same as --admin-token (the other commands' name)")
	fs.StringVar(&cfg.wxsim, "wxsim", c.env("WXSIM_URL", "http://127.0.0.1:8081"), "wxsim base URL, the server's BINDERY_WECHAT_API_BASE (WXSIM_URL)")
	fs.StringVar(&cfg.nats, "nats", c.env("BINDERY_NATS_URL", "nats://127.0.0.1:4222"), "the server's NATS, for the raw publish rate (BINDERY_NATS_URL)")
	fs.StringVar(&cfg.app, "app", "", "an existing wechat app to log in to (default: create bench-<random>)")
	fs.IntVar(&cfg.users, "users", 1000, "simulated users to register and log in")
	fs.IntVar(&cfg.concurrency, "concurrency", 32, "concurrent HTTP clients (and raw publishers)")
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "length of the timed login phase")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "length of the warm-up that sizes the timed phase's codes")
	fs.DurationVar(&cfg.rawFor, "raw-duration", 5*time.Second, "length of the raw JetStream publish measurement (0 skips it)")
	fs.IntVar(&cfg.codes, "codes", 0, "codes to pre-mint for the timed phase (0: from the warm-up rate)")
	fs.BoolVar(&cfg.json, "json", false, "print the result as JSON")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of this process during the timed phase to the file\n(the client; in the in-process test the server and wxsim too: make bench-login-profile)")
	if code, done := parse(fs, args); done {
		return code
	}
	if err := cfg.check(); err != nil {
		return c.fail("bench login: %v", err)
	}
	res, err := runBench(ctx, c, cfg)
	if err != nil {
		return c.fail("bench login: %v", err)
	}
	if cfg.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		res.print(c.stdout)
	}
	switch {
	case res.RawError != "":
		return exitProblem
	case len(res.Errors) > 0:
		return exitFailed
	}
	return exitOK
}

func (cfg *benchConfig) check() error {
	var errs []error
	for _, u := range []struct{ name, v string }{{"--url", cfg.url}, {"--wxsim", cfg.wxsim}} {
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q is not an http(s) URL", u.name, u.v))
		}
	}
	cfg.url, cfg.wxsim = strings.TrimRight(cfg.url, "/"), strings.TrimRight(cfg.wxsim, "/")
	if cfg.token == "" {
		errs = append(errs, errors.New("no admin token: set BINDERY_ADMIN_TOKEN or --admin-token"))
	}
	if cfg.users < 1 || cfg.users > 1_000_000 {
		errs = append(errs, errors.New("--users: 1 to 1000000"))
	}
	if cfg.concurrency < 1 || cfg.concurrency > 4096 {
		errs = append(errs, errors.New("--concurrency: 1 to 4096"))
	}
	if cfg.duration <= 0 {
		errs = append(errs, errors.New("--duration: more than 0"))
	}
	if cfg.warmup < 0 || cfg.rawFor < 0 || cfg.codes < 0 {
		errs = append(errs, errors.New("--warmup, --raw-duration and --codes: not negative"))
	}
	return errors.Join(errs...)
}

// benchClient talks to the server and to wxsim over keep-alive connections.
type benchClient struct {
	cfg  benchConfig
	http *http.Client
}

func newBenchClient(cfg benchConfig) *benchClient {
	conns := max(cfg.concurrency, 16) * 2
	tr := &http.Transport{
		MaxIdleConns: 2 * conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
		DisableCompression: true, ForceAttemptHTTP2: false,
	}
	return &benchClient{cfg: cfg, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// benchProblem is the part of an RFC 9457 answer the bench reads.
type benchProblem struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// benchError is a non-2xx answer (or a transport failure: Status 0).
type benchError struct {
	Status int
	Code   string
	Detail string
}

func (e *benchError) Error() string {
	if e.Status == 0 {
		return "transport: " + e.Detail
	}
	if e.Code != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Detail)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Detail)
}

// key groups errors for the report: "429 rate_limited", "transport".
func (e *benchError) key() string {
	if e.Status == 0 {
		return "transport"
	}
	if e.Code == "" {
		return fmt.Sprintf("%d", e.Status)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Code)
}

// call sends body as JSON (nil: no body) and decodes a 2xx answer into
// out; other answers are a *benchError.
func (b *benchClient) call(ctx context.Context, method, u, token string, body, out any) (http.Header, error) {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, &benchError{Detail: err.Error()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &benchError{Detail: err.Error()}
	}
	if resp.StatusCode/100 != 2 {
		var p benchProblem
		_ = json.Unmarshal(data, &p)
		if p.Code == "" && p.Detail == "" {
			// wxsim's control API answers {"error": "..."}.
			var ce simError
			_ = json.Unmarshal(data, &ce)
			p.Detail = ce.Error
		}
		return nil, &benchError{Status: resp.StatusCode, Code: p.Code, Detail: p.Detail}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("%s %s: decoding the answer: %w", method, u, err)
		}
	}
	return resp.Header, nil
}

type simError struct {
	Error string `json:"error"`
}

func (b *benchClient) sim(ctx context.Context, path string, body, out any) error {
	_, err := b.call(ctx, http.MethodPost, b.cfg.wxsim+path, "", body, out)
	if err != nil {
		return fmt.Errorf("wxsim %s: %w", path, err)
	}
	return nil
}

func (b *benchClient) admin(ctx context.Context, method, path string, body, out any) (http.Header, error) {
	h, err := b.call(ctx, method, b.cfg.url+path, b.cfg.token, body, out)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return h, nil
}

// loginAnswer is the part of a login, bind or register answer the bench reads.
type loginAnswer struct {
	Status     string `json:"status"`
	AccountID  string `json:"account_id"`
	IDToken    string `json:"id_token"`
	BindTicket string `json:"bind_ticket"`
}

// login posts one wx.login code.
func (b *benchClient) login(ctx context.Context, app, code string) (loginAnswer, error) {
	var ans loginAnswer
	_, err := b.call(ctx, http.MethodPost, b.cfg.url+"/v1/apps/"+url.PathEscape(app)+"/login/code", "", map[string]string{"code": code}, &ans)
	return ans, err
}

// benchApp is the app under test as wxsim knows it.
type benchApp struct {
	id, appid string
}

func benchHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// setupApp creates a bench app at wxsim and on the server, or reads the
// one --app names.
func (b *benchClient) setupApp(ctx context.Context) (benchApp, error) {
	if _, err := b.call(ctx, http.MethodGet, b.cfg.wxsim+"/sim/health", "", nil, nil); err != nil {
		return benchApp{}, fmt.Errorf("wxsim at %s: %w", b.cfg.wxsim, err)
	}
	type appView struct {
		Kind   string `json:"kind"`
		WeChat *struct {
			AppID string `json:"appid"`
		} `json:"wechat"`
		OnNoMatch string `json:"on_no_match"`
	}
	if b.cfg.app != "" {
		var v appView
		if _, err := b.admin(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(b.cfg.app), nil, &v); err != nil {
			return benchApp{}, err
		}
		if v.Kind != "wechat" || v.WeChat == nil {
			return benchApp{}, fmt.Errorf("--app %s is of kind %q: the bench logs in with wx.login codes (kind wechat)", b.cfg.app, v.Kind)
		}
		if v.OnNoMatch != "register" {
			return benchApp{}, fmt.Errorf("--app %s has on_no_match %q: the bench registers its users (on_no_match register)", b.cfg.app, v.OnNoMatch)
		}
		return benchApp{id: b.cfg.app, appid: v.WeChat.AppID}, nil
	}
	suffix := benchHex(4)
	a := benchApp{id: "bench-" + suffix, appid: "wxbench" + suffix}
	secret := benchHex(16)
	if err := b.sim(ctx, "/sim/apps", map[string]string{"appid": a.appid, "secret": secret}, nil); err != nil {
		return benchApp{}, err
	}
	body := map[string]any{
		"name": "login bench " + suffix, "kind": "wechat",
		"wechat":      map[string]string{"appid": a.appid, "secret": secret},
		"match_rules": []string{"openid"}, "on_no_match": "register",
	}
	h, err := b.admin(ctx, http.MethodPut, "/v1/apps/"+a.id, body, nil)
	if err != nil {
		return benchApp{}, err
	}
	// Wait until this replica's views know the app.
	if _, err := b.call(ctx, http.MethodGet, b.cfg.url+"/v1/apps/"+a.id+"?min_position="+url.QueryEscape(h.Get("X-Bindery-Position")), b.cfg.token, nil, nil); err != nil {
		return benchApp{}, fmt.Errorf("reading app %s back: %w", a.id, err)
	}
	return a, nil
}

// benchUser is a registered simulated user.
type benchUser struct {
	sim, account string
}

// benchEach runs fn(i) for i in [0, n) on workers goroutines, stopping at
// the first error; done counts finished items for progress.
func benchEach(ctx context.Context, n, workers int, done *atomic.Int64, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// benchWatch reports done/total on a progress line until stop is closed.
func benchWatch(p *progress, part string, done *atomic.Int64, total int) (stop func()) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				p.update(part, uint64(done.Load()), uint64(total))
				p.finish()
				return
			case <-t.C:
				p.update(part, uint64(done.Load()), uint64(total))
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// registerUsers creates the simulated users and registers each with one
// login, so that the bench's logins are returning users.
func (b *benchClient) registerUsers(ctx context.Context, c *cli, a benchApp) ([]benchUser, error) {
	users := make([]benchUser, b.cfg.users)
	var done atomic.Int64
	stop := benchWatch(newProgress(c.stderr, "registering users"), "users", &done, len(users))
	err := benchEach(ctx, len(users), b.cfg.concurrency, &done, func(ctx context.Context, i int) error {
		var u struct {
			User string `json:"user"`
		}
		if err := b.sim(ctx, "/sim/users", map[string]string{"nickname": fmt.Sprintf("bench %d", i)}, &u); err != nil {
			return err
		}
		var code struct {
			Code string `json:"code"`
		}
		if err := b.sim(ctx, "/sim/login", map[string]string{"appid": a.appid, "user": u.User}, &code); err != nil {
			return err
		}
		ans, err := b.login(ctx, a.id, code.Code)
		if err != nil {
			return fmt.Errorf("first login of user %d: %w", i, err)
		}
		if ans.Status != "USER_REGISTER" || ans.BindTicket == "" {
			return fmt.Errorf("first login of user %d answered %s, not USER_REGISTER with a bind_ticket", i, ans.Status)
		}
		var reg loginAnswer
		body := map[string]string{"bind_ticket": ans.BindTicket, "display_name": fmt.Sprintf("Bench user %d", i)}
		if _, err := b.call(ctx, http.MethodPost, b.cfg.url+"/v1/register", "", body, &reg); err != nil {
			return fmt.Errorf("registering user %d: %w", i, err)
		}
		if reg.Status != "OK" || reg.AccountID == "" {
			return fmt.Errorf("registering user %d answered %s", i, reg.Status)
		}
		users[i] = benchUser{sim: u.User, account: reg.AccountID}
		return nil
	})
	stop()
	if err != nil {
		var ce *benchError
		if errors.As(err, &ce) {
			if h := benchHints(map[string]int{ce.key(): 1}, benchSample{ce.key(): ce.Detail}); len(h) > 0 {
				return nil, fmt.Errorf("%w\n%s", err, strings.Join(h, "\n"))
			}
		}
		return nil, err
	}
	return users, nil
}

// benchCode is a pre-minted wx.login code and the account it logs in to.
type benchCode struct {
	code, account string
}

// mint pre-mints n codes, handing them to users round-robin from offset
// first (so every user gets about the same number).
func (b *benchClient) mint(ctx context.Context, c *cli, a benchApp, users []benchUser, first, n int, label string) ([]benchCode, error) {
	codes := make([]benchCode, n)
	var done atomic.Int64
	stop := benchWatch(newProgress(c.stderr, label), "codes", &done, n)
	err := benchEach(ctx, n, max(b.cfg.concurrency, 16), &done, func(ctx context.Context, i int) error {
		u := users[(first+i)%len(users)]
		var ans struct {
			Code string `json:"code"`
		}
		if err := b.sim(ctx, "/sim/login", map[string]string{"appid": a.appid, "user": u.sim}, &ans); err != nil {
			return err
		}
		codes[i] = benchCode{code: ans.Code, account: u.account}
		return nil
	})
	stop()
	return codes, err
}

// drive runs logins with the configured concurrency until d has passed or
// the codes are used up. report, when set, is called about every 2 s.
func (b *benchClient) drive(ctx context.Context, a benchApp, codes []benchCode, d time.Duration, report func(done, failed int, elapsed time.Duration)) (ok []time.Duration, errs *benchErrors, elapsed time.Duration, outOfCodes bool) {
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
				ans, err := b.login(ctx, a.id, codes[i].code)
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
	for _, l := range perWorker {
		ok = append(ok, l...)
	}
	return ok, errs, elapsed, ran.Load()
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
		ok, errs, took, _ := b.drive(ctx, a, codes, cfg.warmup, nil)
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
	ok, errs, took, out := b.drive(ctx, a, codes, cfg.duration, func(done, failed int, elapsed time.Duration) {
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
		used := serverCPU1 - serverCPU0
		res.ServerCores = math.Round(used/took.Seconds()*100) / 100
		res.ServerCPUPerLogin = math.Round(used/float64(len(ok))*1e6) / 1e3
	} else if serverErr != nil {
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

// serverCPU reads process_cpu_seconds_total from the server's /metrics.
func (b *benchClient) serverCPU(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.cfg.url+"/metrics", nil)
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
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
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

// Goals of the login path (issue 3): logins at least a quarter of the raw
// publish rate, with p99 under 20 ms at that load.
const (
	goalRatio = 0.25
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
	// The run is usually shorter than wxsim's one-minute window; the figure
	// says what a minute at this rate would need.
	fmt.Fprintf(w, "  wechat      %.1f code2session calls per user per minute at this rate (wxsim allows %d: a minute of it needs >= %d users)\n",
		r.WeChatPerUserMinute, wxsimMinuteQuota, int(math.Ceil(r.PerSecond*60/wxsimMinuteQuota)))
	if r.Raw != nil {
		fmt.Fprintf(w, "  raw publish %d in %.2fs = %.1f/s (JetStream sync publish, %d publishers, stream %s, file storage, R%d; p50 %.2fms p99 %.2fms)\n",
			r.Raw.Publishes, r.Raw.Seconds, r.Raw.PerSecond, r.Raw.Publishers, benchStream, r.Raw.Replicas, r.Raw.Latency.P50, r.Raw.Latency.P99)
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
