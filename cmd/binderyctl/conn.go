package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/server/natsrv"
)

// endpoints are the connection flags a command takes.
type endpoints struct {
	url, token, nats *string
}

// flagSet makes a command's flag set with a usage text that explains it.
func (c *cli) flagSet(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: binderyctl %s %s\n\n%s\n\nFlags:\n", name, synopsis, about)
		fs.PrintDefaults()
		fmt.Fprint(c.stderr, "\n"+envHelp)
	}
	return fs
}

func (c *cli) httpFlags(fs *flag.FlagSet, e *endpoints) {
	e.url = fs.String("url", c.env("BINDERY_URL", "http://127.0.0.1:8080"), "server base URL (BINDERY_URL)")
	e.token = fs.String("token", c.getenv("BINDERY_ADMIN_TOKEN"), "admin bearer token (BINDERY_ADMIN_TOKEN)")
}

func (c *cli) natsFlag(fs *flag.FlagSet, e *endpoints) {
	e.nats = fs.String("nats", c.env("BINDERY_NATS_URL", "nats://127.0.0.1:4222"), "NATS URL(s) of the streams (BINDERY_NATS_URL)")
}

// parse reads the flags; done is true when the command should stop with
// code (help asked, or a bad flag).
func parse(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK, true
		}
		return exitProblem, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		return exitProblem, true
	}
	return 0, false
}

// connectNATS connects with the credentials the environment names: a user
// in the URL, a creds file (BINDERY_NATS_CREDS), or the password of the
// user bindery (BINDERY_NATS_PASSWORD, the content of the server's
// <data dir>/nats-bindery.password).
func (c *cli) connectNATS(ctx context.Context, urls string) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{nats.Name("binderyctl"), nats.Timeout(5 * time.Second), nats.CustomInboxPrefix(natsrv.InboxPrefix)}
	if creds := c.getenv("BINDERY_NATS_CREDS"); creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	} else if pw := c.getenv("BINDERY_NATS_PASSWORD"); pw != "" {
		opts = append(opts, nats.UserInfo(natsrv.UserBindery, pw))
	}
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("NATS %s: %w", urls, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// api calls the admin HTTP API.
type api struct {
	base   string
	token  string
	client *http.Client
}

func newAPI(e endpoints) (*api, error) {
	base := strings.TrimRight(*e.url, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q is not an http(s) URL", *e.url)
	}
	if *e.token == "" {
		return nil, fmt.Errorf("no admin token: set BINDERY_ADMIN_TOKEN or --token")
	}
	return &api{base: base, token: *e.token, client: &http.Client{}}, nil
}

// get sends an authorized GET and returns the response when it is 200;
// otherwise an error carrying the problem's code and detail.
func (a *api) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	u := a.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var p struct{ Code, Detail string }
	_ = json.Unmarshal(body, &p)
	if p.Code != "" {
		return nil, fmt.Errorf("%s %s: %d %s: %s", http.MethodGet, path, resp.StatusCode, p.Code, p.Detail)
	}
	return nil, fmt.Errorf("%s %s: %s", http.MethodGet, path, resp.Status)
}

func (a *api) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	resp, err := a.get(ctx, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// progress draws a one-line progress report on stderr, at most a few times
// a second, and a final line at the end.
type progress struct {
	w     io.Writer
	label string
	start time.Time
	mu    sync.Mutex
	last  time.Time
	parts map[string][2]uint64 // per part: done, total
	order []string
}

func newProgress(w io.Writer, label string) *progress {
	return &progress{w: w, label: label, start: time.Now(), parts: map[string][2]uint64{}}
}

// update sets how far one part (a stream) is; total 0 means unknown.
func (p *progress) update(part string, done, total uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.parts[part]; !ok {
		p.order = append(p.order, part)
	}
	p.parts[part] = [2]uint64{done, total}
	if time.Since(p.last) < 250*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.draw("\r")
}

func (p *progress) draw(prefix string) {
	var done, total uint64
	for _, k := range p.order {
		done += p.parts[k][0]
		total += p.parts[k][1]
	}
	rate := float64(done) / max(time.Since(p.start).Seconds(), 1e-3)
	if total > 0 {
		const width = 30
		filled := min(int(float64(width)*float64(done)/float64(total)), width)
		fmt.Fprintf(p.w, "%s%s [%s%s] %3.0f%% %d/%d  %.0f/s ", prefix, p.label,
			strings.Repeat("#", filled), strings.Repeat(".", width-filled), 100*float64(done)/float64(total), done, total, rate)
		return
	}
	fmt.Fprintf(p.w, "%s%s %d  %.0f/s ", prefix, p.label, done, rate)
}

// finish draws the last state and ends the line.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw("\r")
	fmt.Fprintf(p.w, " %.1fs\n", time.Since(p.start).Seconds())
}
