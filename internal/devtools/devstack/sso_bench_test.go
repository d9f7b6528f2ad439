package devstack

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Benchmarks of the OpenID Provider over real HTTP on the dev stack
// (embedded NATS, file storage), no browser: complete authorization-code
// flows (authorize → hosted page → QR scan + confirm → code exchange), code
// exchanges and refreshes at the token endpoint, introspections. Run:
//
//	go test ./internal/devtools/devstack -run '^$' -bench SSO -benchtime 3s -cpu 2
//
// Each runs 100 concurrent clients, as Hydra's published figure used: the
// parallel ones through RunParallel (parallelClients), the exchange on its
// own 100 goroutines. The clients keep their connections
// alive (loopback).

type ssoBench struct {
	st      *Stack
	rp      *ssoRP
	wiki    *oauth2.Config
	idToken string
}

func newSSOBench(b *testing.B) *ssoBench {
	b.Helper()
	more := map[string]string{"BINDERY_LOG_LEVEL": "warn"}
	if v := os.Getenv("BINDERY_NATS_SYNC"); v != "" {
		more["BINDERY_NATS_SYNC"] = v // e.g. 2m: what the group sync's read barrier costs
	}
	st, _ := startStackWith(b, "", more)
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
	parallelClients(b)
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

// BenchmarkSSOExchange times code exchanges by 100 concurrent clients
// alone: the codes are made (whole flows, also 100 at a time) with the
// timer stopped, in rounds short enough for codes that live 60 s.
func BenchmarkSSOExchange(b *testing.B) {
	s := newSSOBench(b)
	ctx := context.Background()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(b.N-done, 2*benchClients)
		b.StopTimer()
		flows := make([]flowOut, n)
		if err := concurrently(n, func(i int) (err error) {
			flows[i], err = s.rp.signIn(ctx, s.wiki, s.idToken)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := concurrently(n, func(i int) error {
			_, err := exchange(ctx, s.wiki, flows[i])
			return err
		}); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	perSecond(b, "exchanges")
}

// parallelClients makes RunParallel run benchClients goroutines (rounded
// up to a multiple of GOMAXPROCS).
func parallelClients(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((benchClients + procs - 1) / procs)
}

// benchClients is how many clients a benchmark runs at once: 100, as
// Hydra's published figure used.
const benchClients = 100

// concurrently runs fn(0..n-1) on benchClients goroutines; the first error.
func concurrently(n int, fn func(i int) error) error {
	next := make(chan int)
	errs := make(chan error, benchClients)
	for range min(n, benchClients) {
		go func() {
			var first error
			for i := range next {
				if err := fn(i); err != nil && first == nil {
					first = err
				}
			}
			errs <- first
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	var first error
	for range min(n, benchClients) {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func BenchmarkSSORefresh(b *testing.B) {
	s := newSSOBench(b)
	refresh := make(chan string, benchClients)
	for range benchClients {
		refresh <- s.tokens(b).RefreshToken
	}
	parallelClients(b)
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
	parallelClients(b)
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
