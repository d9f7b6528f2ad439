// Package testenv starts a real bindery (embedded JetStream on a temp dir,
// HTTP on loopback) for component tests, with helpers to call it.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/server"
	"github.com/bindery/bindery/internal/server/config"
)

// AdminToken is the admin token of test servers.
const AdminToken = "test-admin-token-0123456789-abcdef"

// Passwords of the NATS users bindery and downstream of test servers (set
// BINDERY_NATS_PASSWORD to "" to have the server generate them instead).
const (
	NATSPassword           = "test-nats-bindery-0123456789"
	NATSDownstreamPassword = "test-nats-downstream-0123456789"
)

// Env is a running test server.
type Env struct {
	T      testing.TB
	App    *server.App
	URL    string
	Logs   *SyncBuffer
	Client *http.Client

	closeOnce sync.Once
	close     func()
}

// Close stops the server before the test ends (to restart it on the same
// data dir); the test's cleanup then does nothing more.
func (e *Env) Close() { e.closeOnce.Do(e.close) }

// SyncBuffer is a goroutine-safe log sink whose contents tests scan.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything logged so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start runs a server on dir (t.TempDir() when ""), with extra settings in
// env (BINDERY_* names) and app options (server.WithClock), closed at test end.
func Start(t testing.TB, dir string, env map[string]string, opts ...server.Option) *Env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	vars := map[string]string{
		"BINDERY_DATA_DIR":    dir,
		"BINDERY_NATS_LISTEN": "off",
		"BINDERY_ADMIN_TOKEN": AdminToken,
		"BINDERY_MASTER_KEY":  "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"BINDERY_RATE_LIMIT":  "0",

		"BINDERY_NATS_PASSWORD":            NATSPassword,
		"BINDERY_NATS_DOWNSTREAM_PASSWORD": NATSDownstreamPassword,
	}
	// Listen first, so that the token issuer is the URL the tests reach.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	vars["BINDERY_ISSUER"] = "http://" + l.Addr().String()
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return vars[k] }, false)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	logs := &SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := server.New(ctx, cfg, log, opts...)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.API.Handler())
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	e := &Env{T: t, App: a, URL: srv.URL, Logs: logs, Client: srv.Client(), close: func() { srv.Close(); a.Close() }}
	t.Cleanup(e.Close)
	return e
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	// Trailer holds the trailers (after the body), e.g. an audit page's cursor.
	Trailer http.Header
	Body    []byte
}

// JSON decodes the body into v, failing the test on error.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Map decodes the body as an object.
func (r Response) Map(t testing.TB) map[string]any {
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Do sends a request; body may be nil, a string/[]byte (sent as is) or a
// value encoded as JSON. headers alternate name, value.
func (e *Env) Do(method, path string, body any, headers ...string) Response {
	e.T.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.URL+path, r)
	if err != nil {
		e.T.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Trailer: resp.Trailer, Body: data}
}

// Admin sends a request with the admin token.
func (e *Env) Admin(method, path string, body any, headers ...string) Response {
	e.T.Helper()
	return e.Do(method, path, body, append([]string{"Authorization", "Bearer " + AdminToken}, headers...)...)
}

// Eventually polls cond until it holds or the deadline passes.
func Eventually(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before the deadline")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
