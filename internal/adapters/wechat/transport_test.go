package wechat_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bindery/bindery/internal/adapters/wechat"
)

// Concurrent logins reuse their connections to WeChat: with the default
// transport's 2 idle connections per host, almost every call of a burst
// would dial (and, against the real API, shake hands over TLS) again.
func TestConcurrentCallsReuseConnections(t *testing.T) {
	var dials atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"openid":"o-%s","session_key":"k"}`, r.URL.Query().Get("js_code"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	c := wechat.New(srv.URL)
	cred := wechat.Credentials{AppID: "wxapp", Secret: "secret"}
	const clients, rounds = 32, 10
	for r := range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i := range clients {
			wg.Go(func() {
				s, err := c.Code2Session(context.Background(), cred, fmt.Sprintf("code-%d-%d", r, i))
				if err == nil && s.OpenID != fmt.Sprintf("o-code-%d-%d", r, i) {
					err = fmt.Errorf("openid %q", s.OpenID)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// Each round has at most `clients` calls in flight, so that many
	// connections could serve every round. A connection goes back to the
	// idle pool from the transport's read loop, just after its call has
	// returned, so on a loaded machine a few of the next round's calls
	// dial before it is back: allow one more round's worth. Without the
	// larger idle pool, about (clients-2) of every round's calls dial
	// (some 300 here).
	if n, most := dials.Load(), int64(2*clients); n > most {
		t.Fatalf("%d calls in %d rounds of %d opened %d connections, want at most %d", clients*rounds, rounds, clients, n, most)
	}
}
