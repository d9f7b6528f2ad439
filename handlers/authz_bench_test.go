package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/authz"
	"github.com/bindery/bindery/internal/devtools/testenv"
	"github.com/bindery/bindery/internal/server"
	"github.com/bindery/bindery/internal/server/config"
)

// BenchmarkAuthzCheckHTTP measures authorization checks over loopback HTTP
// with keep-alive connections from 32 parallel clients (16 per core), on a
// server holding 1,000 accounts with an unscoped and a scoped grant each:
// one check per request (POST /v1/authz/check) and batches of 100 (POST
// /v1/authz/checks). The server logs to a discarding handler: this measures
// the API, not a test's log buffer. Client and server share the machine's
// two cores.
func BenchmarkAuthzCheckHTTP(b *testing.B) {
	dir := b.TempDir()
	vars := map[string]string{
		"BINDERY_DATA_DIR": dir, "BINDERY_NATS_LISTEN": "off", "BINDERY_ADMIN_TOKEN": testenv.AdminToken,
		"BINDERY_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "BINDERY_RATE_LIMIT": "0",
	}
	cfg, err := config.Load(nil, func(k string) string { return vars[k] }, false)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	a, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.API.Handler())
	defer srv.Close()

	ids, pos := seedAuthz(b, ctx, a.API.Accounts, a.API.Authz, 1000)
	if err := a.Engine.WaitFor(ctx, pos); err != nil {
		b.Fatal(err)
	}
	type check struct {
		AccountID  string `json:"account_id"`
		Permission string `json:"permission"`
		Org        string `json:"org,omitempty"`
	}
	checks := make([]check, 1024)
	for i := range checks {
		checks[i] = check{ids[(i*7)%len(ids)], fmt.Sprintf("res%d:act%d", i%10, i%3), []string{"", "team-3", "dept-1", "hq"}[i%4]}
	}
	var single, batches [][]byte
	for i, c := range checks {
		body, _ := json.Marshal(c)
		single = append(single, body)
		if i%100 == 0 && i+100 <= len(checks) {
			body, _ := json.Marshal(map[string]any{"checks": checks[i : i+100]})
			batches = append(batches, body)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}
	run := func(b *testing.B, path string, bodies [][]byte, perRequest int) {
		var allowed atomic.Int64
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				req, _ := http.NewRequest("POST", srv.URL+path, bytes.NewReader(bodies[i%len(bodies)]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+testenv.AdminToken)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d: %s", resp.StatusCode, body)
					return
				}
				allowed.Add(int64(bytes.Count(body, []byte("true"))))
				i++
			}
		})
		b.ReportMetric(float64(b.N*perRequest)/b.Elapsed().Seconds(), "checks/s")
		if b.N > 100 && allowed.Load() == 0 {
			b.Fatal("no check was allowed: the fixture is wrong")
		}
	}
	b.Run("single", func(b *testing.B) { run(b, "/v1/authz/check", single, 1) })
	b.Run("batch100", func(b *testing.B) { run(b, "/v1/authz/checks", batches, 100) })
}

// seedAuthz makes n accounts, ten roles, a small org tree (hq ─ dept-d ─
// team-t) and gives every account an unscoped and a scoped grant, through
// the services (a benchmark's setup need not go over HTTP).
func seedAuthz(b *testing.B, ctx context.Context, accts *accounts.Service, az *authz.Service, n int) ([]string, events.Position) {
	b.Helper()
	meta := events.Meta{Actor: "bench", Time: time.Now()}
	var last events.Position
	for r := 0; r < 10; r++ {
		perms := []string{fmt.Sprintf("res%d:act%d", r, r%3), fmt.Sprintf("res%d:*", (r+1)%10)}
		if _, _, p, err := az.DefineRole(ctx, meta, fmt.Sprintf("role-%d", r), perms); err != nil {
			b.Fatal(err)
		} else {
			last = last.Max(p)
		}
	}
	define := func(id, parent string) {
		_, p, err := az.DefineOrg(ctx, meta, id, id, parent)
		if err != nil {
			b.Fatal(err)
		}
		last = last.Max(p)
	}
	define("hq", "")
	for d := 0; d < 3; d++ {
		define(fmt.Sprintf("dept-%d", d), "hq")
	}
	for t := 0; t < 9; t++ {
		define(fmt.Sprintf("team-%d", t), fmt.Sprintf("dept-%d", t%3))
	}
	ids := make([]string, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				id, p, err := accts.Create(ctx, meta, accounts.Create{Profile: account.Profile{DisplayName: "bench"}})
				if err != nil {
					b.Error(err)
					return
				}
				_, p2, err := az.Grant(ctx, meta, id, role.Grant{Role: fmt.Sprintf("role-%d", i%10)})
				if err != nil {
					b.Error(err)
					return
				}
				_, p3, err := az.Grant(ctx, meta, id, role.Grant{Role: fmt.Sprintf("role-%d", (i+5)%10), Org: fmt.Sprintf("dept-%d", i%3)})
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				ids[i] = id
				last = last.Max(p).Max(p2).Max(p3)
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return ids, last
}
