package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
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
     server's NATS for --raw-duration: the ceiling the logins compare to;
     with --raw-sync-dir each ack also waits for a group sync of the disk,
     as the server's acks do under its default durability (group)

The server must run with BINDERY_RATE_LIMIT=0 (its per-IP limit would
answer 429). wxsim allows 100 logins per user per minute, so N must exceed
logins/s * 60 / 100; a run never hands one user more than 96 codes.
Exit code 1 when a timed login failed.`

// benchConfig is what "bench login" was asked to do.
type benchConfig struct {
	url, token, wxsim, nats, app string
	// urls are the replicas the logins are spread over (--url a,b,c);
	// url is the first, which also takes the admin calls.
	urls                     []string
	users, concurrency       int
	duration, warmup, rawFor time.Duration
	codes                    int
	rawSyncDir               string
	json                     bool
	cpuprofile               string
}

func benchLogin(ctx context.Context, c *cli, args []string) int {
	fs := c.flagSet("bench login", "[flags]", benchLoginAbout)
	var cfg benchConfig
	fs.StringVar(&cfg.url, "url", c.env("BINDERY_URL", "http://127.0.0.1:8080"), "server base URL (BINDERY_URL); several, comma-separated,\nspread the logins over replicas of one deployment (client i uses URL i mod n)")
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
	fs.StringVar(&cfg.rawSyncDir, "raw-sync-dir", "", "after each raw publish's ack, wait for a sync of this directory's filesystem begun\nafter it, shared by concurrent publishers: the server's BINDERY_NATS_SYNC=group\npolicy, so that the raw rate pays for durability as appends do (give the\nserver's data dir; scripts/bench-login.sh does under the group policy)")
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
	cfg.urls = nil
	for _, u := range strings.Split(cfg.url, ",") {
		cfg.urls = append(cfg.urls, strings.TrimRight(strings.TrimSpace(u), "/"))
	}
	checks := []struct{ name, v string }{{"--wxsim", cfg.wxsim}}
	for _, u := range cfg.urls {
		checks = append(checks, struct{ name, v string }{"--url", u})
	}
	for _, u := range checks {
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q is not an http(s) URL", u.name, u.v))
		}
	}
	cfg.url, cfg.wxsim = cfg.urls[0], strings.TrimRight(cfg.wxsim, "/")
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
