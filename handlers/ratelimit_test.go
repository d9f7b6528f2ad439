package handlers

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	l := newIPLimiter(1, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	for _, tc := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"192.0.2.1:5000", nil, "192.0.2.1"},
		{"192.0.2.1:5000", []string{"198.51.100.1"}, "192.0.2.1"}, // untrusted peer: header ignored
		{"10.1.2.3:5000", nil, "10.1.2.3"},
		{"10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"10.1.2.3:5000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},           // client-written hops ignored
		{"10.1.2.3:5000", []string{"6.6.6.6, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"}, // chain of proxies
		{"10.1.2.3:5000", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1"},         // several header lines
		{"10.1.2.3:5000", []string{"10.4.4.4, 10.5.5.5"}, "10.4.4.4"},                  // all trusted: the leftmost
		{"10.1.2.3:5000", []string{"garbage, 198.51.100.1"}, "198.51.100.1"},
		{"10.1.2.3:5000", []string{"198.51.100.1, garbage"}, "10.1.2.3"},
		{"10.1.2.3:5000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"[::1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"[::ffff:192.0.2.1]:5000", nil, "192.0.2.1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		for _, h := range tc.xff {
			r.Header.Add("X-Forwarded-For", h)
		}
		if got := l.clientIP(r); got.String() != tc.want {
			t.Errorf("peer %s xff %q: %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}

func TestLimiterBucketsAndEviction(t *testing.T) {
	t.Parallel()
	if newIPLimiter(0, nil) != nil {
		t.Fatal("rate 0 must turn the limit off")
	}
	l := newIPLimiter(2, nil) // burst 4
	now := time.Unix(1700000000, 0)
	req := func(peer string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		return r
	}
	for i := range 4 {
		if _, ok := l.allow(req("192.0.2.1:1"), now); !ok {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	wait, ok := l.allow(req("192.0.2.1:2"), now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("over the burst: ok=%v wait=%v", ok, wait)
	}
	if _, ok := l.allow(req("192.0.2.2:1"), now); !ok {
		t.Fatal("another client was limited")
	}
	// IPv6 clients are limited per /64.
	for range 4 {
		l.allow(req("[2001:db8::1]:1"), now)
	}
	if _, ok := l.allow(req("[2001:db8::2]:1"), now); ok {
		t.Fatal("same /64 not limited together")
	}
	if _, ok := l.allow(req("[2001:db8:0:1::1]:1"), now); !ok {
		t.Fatal("another /64 was limited")
	}
	if _, ok := l.allow(req("192.0.2.1:1"), now.Add(time.Second)); !ok {
		t.Fatal("bucket did not refill")
	}
	// Idle clients are forgotten at the next sweep.
	later := now.Add(2 * limiterIdleAfter)
	l.allow(req("192.0.2.9:1"), later)
	l.mu.Lock()
	n := len(l.clients)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d clients after the sweep, want 1", n)
	}
}

// The user middleware hands the verified claims to the route.
func TestUserMiddleware(t *testing.T) {
	t.Parallel()
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	box, _ := secrets.NewBox(key)
	signer, err := tokens.NewSigner(context.Background(), tokens.NewMemoryKeyStore(), box, tokens.SignerOptions{Issuer: "https://id.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Deps{Signer: signer})
	var got UserClaims
	s.Echo().GET("/whoami", func(c echo.Context) error {
		got = currentUser(c)
		return c.NoContent(http.StatusNoContent)
	}, s.user)
	now := time.Now()
	call := func(claims map[string]any) int {
		tok, err := signer.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/whoami", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w.Code
	}
	auth := now.Add(-time.Hour).Truncate(time.Second)
	if code := call(map[string]any{"sub": "acc", "aud": "app1", "sid": "fam", "auth_time": auth, "iat": now, "exp": now.Add(time.Minute)}); code != http.StatusNoContent {
		t.Fatalf("status %d", code)
	}
	if got.AccountID != "acc" || got.App != "app1" || got.SessionID != "fam" || !got.AuthTime.Equal(auth) {
		t.Fatalf("claims %+v", got)
	}
	for name, claims := range map[string]map[string]any{
		"no sid":       {"sub": "acc", "aud": "app1", "exp": now.Add(time.Minute)},
		"no sub":       {"aud": "app1", "sid": "fam", "exp": now.Add(time.Minute)},
		"two aud":      {"sub": "acc", "aud": []string{"a", "b"}, "sid": "fam", "exp": now.Add(time.Minute)},
		"expired":      {"sub": "acc", "aud": "app1", "sid": "fam", "exp": now.Add(-time.Hour)},
		"other issuer": {"iss": "https://evil.example.com", "sub": "acc", "aud": "app1", "sid": "fam", "exp": now.Add(time.Minute)},
	} {
		if code := call(claims); code != http.StatusUnauthorized {
			t.Errorf("%s: status %d", name, code)
		}
	}
}
