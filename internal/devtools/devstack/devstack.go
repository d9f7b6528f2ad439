// Package devstack runs the whole demo in one process, as `bindery dev`
// (and `make run`) does: bindery on an embedded NATS, the WeChat simulator,
// the demo pages, and the demo app registered in both. Tests start it on
// free loopback ports and a temp data dir.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bindery/bindery/handlers"
	"github.com/bindery/bindery/internal/devtools/demo"
	"github.com/bindery/bindery/internal/devtools/webapp"
	"github.com/bindery/bindery/internal/devtools/wxsim"
	"github.com/bindery/bindery/internal/server"
	"github.com/bindery/bindery/internal/server/config"
)

// DefaultSimAddr is where the simulator listens unless WXSIM_ADDR says
// otherwise; DefaultWebAppAddr the demo web app unless DEMO_WEBAPP_ADDR
// does.
const (
	DefaultSimAddr    = "127.0.0.1:8081"
	DefaultWebAppAddr = "127.0.0.1:8082"
)

// Addrs are where the dev stack's helpers listen.
type Addrs struct {
	Sim    string // the WeChat simulator (WXSIM_ADDR)
	WebApp string // the demo web app (DEMO_WEBAPP_ADDR)
}

// LoadConfig reads the settings of `bindery dev`: those of the server in
// dev mode (admin token "dev", a generated master key, one-time codes in
// the log), with the WeChat API base pointing at the in-process simulator
// unless BINDERY_WECHAT_API_BASE (or its flag) is set. It also returns
// where the simulator (WXSIM_ADDR, default 127.0.0.1:8081) and the demo
// web app (DEMO_WEBAPP_ADDR, default 127.0.0.1:8082) listen.
func LoadConfig(args []string, getenv func(string) string) (*config.Config, Addrs, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	addrs := Addrs{Sim: getenv("WXSIM_ADDR"), WebApp: getenv("DEMO_WEBAPP_ADDR")}
	if addrs.Sim == "" {
		addrs.Sim = DefaultSimAddr
	}
	if addrs.WebApp == "" {
		addrs.WebApp = DefaultWebAppAddr
	}
	if _, _, err := net.SplitHostPort(addrs.Sim); err != nil {
		return nil, Addrs{}, fmt.Errorf("WXSIM_ADDR: %q is not host:port", addrs.Sim)
	}
	if _, _, err := net.SplitHostPort(addrs.WebApp); err != nil {
		return nil, Addrs{}, fmt.Errorf("DEMO_WEBAPP_ADDR: %q is not host:port", addrs.WebApp)
	}
	simAddr := addrs.Sim
	cfg, err := config.Load(args, func(k string) string {
		if v := getenv(k); v != "" || k != "BINDERY_WECHAT_API_BASE" {
			return v
		}
		return "http://" + simAddr
	}, true)
	if err != nil {
		return nil, Addrs{}, err
	}
	return cfg, addrs, nil
}

// Stack is the running demo.
type Stack struct {
	// App is the bindery server; URL its base URL.
	App *server.App
	URL string
	// Sim is the WeChat simulator, served at SimURL.
	Sim    *wxsim.Server
	SimURL string
	// WebAppURL is the demo web app, which signs in through Bindery.
	WebAppURL string
	// Provisioned says whether this start wrote the demo app to Bindery
	// (first start) or found it there.
	Provisioned bool

	cfg     *config.Config
	log     *slog.Logger
	api     *http.Server
	sim     *http.Server
	webapp  *http.Server
	errc    chan error
	stopped bool
	// endRequests cancels the context of every request, so that long polls
	// and event streams end at once on shutdown instead of holding it up.
	endRequests context.CancelFunc
}

// Start listens on cfg.HTTPAddr (bindery) and simAddr (the simulator), opens
// bindery, serves both, waits until bindery is ready, and registers the
// demo app. An address with port 0 takes a free port; the settings derived
// from it by default (the issuer, the WeChat API base) follow the port
// taken. cfg must be a dev-mode config (LoadConfig). On error nothing is
// left running.
func Start(ctx context.Context, cfg *config.Config, addrs Addrs, log *slog.Logger) (st *Stack, err error) {
	simAddr := addrs.Sim
	if !cfg.Dev {
		return nil, errors.New("devstack: the config is not in dev mode")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st = &Stack{cfg: cfg, log: log, errc: make(chan error, 2)}
	defer func() {
		if err != nil {
			st.Close(context.Background())
			st = nil
		}
	}()

	simL, err := net.Listen("tcp", simAddr)
	if err != nil {
		return st, fmt.Errorf("WXSIM_ADDR: %w", err)
	}
	st.SimURL = "http://" + simL.Addr().String()
	st.Sim = wxsim.New(wxsim.Options{})
	st.sim = &http.Server{Handler: logSim(log, st.Sim), ReadHeaderTimeout: 10 * time.Second}
	go st.serve(st.sim, simL)
	if cfg.WeChatAPIBase == "http://"+simAddr {
		cfg.WeChatAPIBase = st.SimURL
	}

	apiL, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return st, fmt.Errorf("BINDERY_HTTP_ADDR: %w", err)
	}
	if cfg.Issuer == "http://"+cfg.HTTPAddr {
		cfg.Issuer = "http://" + apiL.Addr().String()
	}
	cfg.HTTPAddr = apiL.Addr().String()
	st.URL = "http://" + cfg.HTTPAddr

	webL, err := net.Listen("tcp", addrs.WebApp)
	if err != nil {
		apiL.Close()
		return st, fmt.Errorf("DEMO_WEBAPP_ADDR: %w", err)
	}
	st.WebAppURL = "http://" + webL.Addr().String()

	if st.App, err = server.New(ctx, cfg, log); err != nil {
		apiL.Close()
		webL.Close()
		return st, err
	}
	st.App.API.HomeLinks = append(st.App.API.HomeLinks, handlers.HomeLink{Href: st.WebAppURL, Text: "The demo web app (signs in through Bindery with OpenID Connect)"})
	st.api = st.App.NewHTTPServer()
	base, endRequests := context.WithCancel(context.Background())
	st.endRequests = endRequests
	st.api.BaseContext = func(net.Listener) context.Context { return base }
	go st.serve(st.api, apiL)

	if err := st.waitReady(ctx, 60*time.Second); err != nil {
		return st, err
	}
	res, err := demo.Provision(ctx, demo.Target{API: st.URL, AdminToken: cfg.AdminToken, SimURL: cfg.WeChatAPIBase, DataDir: cfg.DataDir})
	if err != nil {
		if cfg.WeChatAPIBase == st.SimURL {
			return st, err
		}
		// BINDERY_WECHAT_API_BASE points elsewhere: the demo app may be
		// registered there already, or the pages' logins will say why not.
		log.Warn("demo app not provisioned", "err", err)
	}
	st.Provisioned = res.Registered
	if err := st.startWebApp(ctx, webL); err != nil {
		return st, err
	}
	return st, nil
}

// startWebApp registers the demo web app as an OIDC client of the demo
// mini-program app and serves it on l.
func (st *Stack) startWebApp(ctx context.Context, l net.Listener) error {
	secret, err := webapp.Provision(ctx, webapp.Target{
		API: st.URL, AdminToken: st.cfg.AdminToken, App: demo.App, DataDir: st.cfg.DataDir, BaseURL: st.WebAppURL,
	})
	if err != nil {
		l.Close()
		return err
	}
	wa, err := webapp.New(ctx, webapp.Options{Issuer: st.cfg.Issuer, ClientSecret: secret, BaseURL: st.WebAppURL})
	if err != nil {
		l.Close()
		return fmt.Errorf("demo web app: %w", err)
	}
	st.webapp = &http.Server{Handler: wa, ReadHeaderTimeout: 10 * time.Second}
	go st.serve(st.webapp, l)
	return nil
}

func (st *Stack) serve(srv *http.Server, l net.Listener) {
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		st.errc <- err
	}
}

// Err reports a server that stopped on its own (a listener failure).
func (st *Stack) Err() <-chan error { return st.errc }

// waitReady polls /readyz until bindery's views caught up with the store,
// so the demo app is looked up in complete views.
func (st *Stack) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.URL+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bindery was not ready within %s", limit)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Banner writes what to open.
func (st *Stack) Banner(w io.Writer) {
	c := st.cfg
	nats := "off"
	if st.App != nil && st.App.Embedded != nil && c.NATSListen != "off" {
		nats = "nats://" + c.NATSListen + "   (users bindery and downstream; passwords in " +
			filepath.Join(c.DataDir, "nats-*.password") + ")"
	} else if c.NATSURL != "" {
		nats = c.NATSURL
	}
	lines := []string{
		"",
		"  Bindery dev stack is running.",
		"",
		"  PC login page      " + st.URL + "/demo/pc",
		"  Phone (mini prog.) " + st.URL + "/demo/phone",
		"  Demo web app       " + st.WebAppURL + "   (\"Log in with the mini program\": OpenID Connect, client " + webapp.ClientID + ")",
		"  API                " + st.URL + "   (OpenAPI: " + st.URL + "/openapi.yaml)",
		"  Admin token        " + c.AdminToken + "   e.g. curl -H 'Authorization: Bearer " + c.AdminToken + "' " + st.URL + "/v1/apps/" + demo.App,
		"  Demo app           " + demo.App + " (WeChat appid " + demo.WeChatAppID + ", match unionid > openid > phone, registers new users)",
		"  WeChat simulator   " + st.SimURL + "   (control API under /sim/; bindery uses " + c.WeChatAPIBase + ")",
		"  NATS               " + nats,
		"  One-time codes     printed in this log: look for \"one-time code\"",
		"  Data               " + c.DataDir + "   (delete it to start over; simulated WeChat users live in",
		"                     memory and vanish on restart, Bindery's accounts stay)",
		"",
		"  Ctrl-C stops everything.",
		"",
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}

// Close shuts the servers down gracefully (requests in flight finish within
// ctx), then closes bindery: a last projection snapshot, NATS stopped.
func (st *Stack) Close(ctx context.Context) {
	if st.stopped {
		return
	}
	st.stopped = true
	if st.endRequests != nil {
		st.endRequests()
	}
	if st.api != nil {
		_ = st.api.Shutdown(ctx)
	}
	if st.sim != nil {
		_ = st.sim.Shutdown(ctx)
	}
	if st.webapp != nil {
		_ = st.webapp.Shutdown(ctx)
	}
	if st.App != nil {
		st.App.Close()
	}
}

// logSim logs each simulator request by path only (WeChat queries hold app
// secrets and access tokens), at debug level: the bindery log already
// shows the logins.
func logSim(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		log.Debug("wxsim", "method", r.Method, "path", r.URL.Path, "took_ms", float64(time.Since(start).Microseconds())/1000)
	})
}
