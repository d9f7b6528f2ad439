package devstack

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Benchmarks of the OpenID Provider over real HTTP on the dev stack
// (embedded NATS, file storage), no browser: complete authorization-code
// flows (authorize → hosted page → QR scan + confirm → code exchange), code
// exchanges and refreshes at the token endpoint, introspections. Run:
//
//	go test ./internal/devtools/devstack -run '^$' -bench SSO -benchtime 5s -cpu 2
//
// The parallel ones run SetParallelism(50) × GOMAXPROCS clients: 100 on
// the 2 cores of -cpu 2, as Hydra's published figure used 100 clients.

type ssoBench struct {
	st      *Stack
	rp      *ssoRP
	wiki    *oauth2.Config
	idToken string
}

func newSSOBench(b *testing.B) *ssoBench {
	b.Helper()
	st, _ := startStackWith(b, "", map[string]string{"BINDERY_LOG_LEVEL": "warn"})
	r := newSSORP(b, st.URL)
	wiki := r.register(b, "bench-wiki", "bench-secret-0123456789abcdef", "profile", "offline_access")
	idToken, _ := miniProgramUser(b, st, "Bench")
	return &ssoBench{st: st, rp: r, wiki: wiki, idToken: idToken}
}

func (s *ssoBench) tokens(b *testing.B) *oauth2.Token {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := s.rp.signIn(ctx, s.wiki, s.idToken)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := exchange(ctx, s.wiki, f)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

func perSecond(b *testing.B, name string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), name+"/s")
}

func BenchmarkSSOFlow(b *testing.B) {
	s := newSSOBench(b)
	b.SetParallelism(50)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			f, err := s.rp.signIn(ctx, s.wiki, s.idToken)
			if err == nil {
				_, err = exchange(ctx, s.wiki, f)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	perSecond(b, "flows")
}

// BenchmarkSSOExchange times the code exchange alone: each code is made
// (a whole flow) with the timer stopped.
func BenchmarkSSOExchange(b *testing.B) {
	s := newSSOBench(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		f, err := s.rp.signIn(ctx, s.wiki, s.idToken)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := exchange(ctx, s.wiki, f); err != nil {
			b.Fatal(err)
		}
	}
	perSecond(b, "exchanges")
}

func BenchmarkSSORefresh(b *testing.B) {
	s := newSSOBench(b)
	const clients = 100
	refresh := make(chan string, clients)
	for range clients {
		refresh <- s.tokens(b).RefreshToken
	}
	b.SetParallelism(50)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		rt := <-refresh // one family per client: its rotations are in order
		for pb.Next() {
			tok, err := refreshed(ctx, s.wiki, rt)
			if err != nil {
				b.Error(fmt.Errorf("refresh: %w", err))
				return
			}
			rt = tok.RefreshToken
		}
	})
	perSecond(b, "refreshes")
}

func BenchmarkSSOIntrospect(b *testing.B) {
	s := newSSOBench(b)
	at := s.tokens(b).AccessToken
	b.SetParallelism(50)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			out, err := introspect(ctx, s.st.URL, s.wiki, at)
			if err != nil || out["active"] != true {
				b.Errorf("introspect: %v %v", out, err)
				return
			}
		}
	})
	perSecond(b, "introspections")
}
