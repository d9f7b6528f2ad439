package handlers

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/bindery/bindery/domain"
)

// publicLimit is the per-client-IP rate limit of the public endpoints
// (BINDERY_RATE_LIMIT requests per second, a burst of twice that; off at
// 0). Put it on every route a mini program or PC calls without an admin
// token: e.POST(path, h, s.publicLimit). A client over the limit gets 429
// rate_limited with Retry-After.
func (s *Server) publicLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.limiter == nil {
			return next(c)
		}
		if wait, ok := s.limiter.allow(c.Request(), time.Now()); !ok {
			return &domain.Error{
				Kind: domain.KindRateLimited, Code: "rate_limited", RetryAfter: wait,
				Message: "too many requests from this address; retry later",
			}
		}
		return next(c)
	}
}

// Bounds of the limiter table. An idle limiter has refilled to its burst
// within burst/rate = 2 s, so forgetting it after idleAfter changes nothing.
const (
	limiterIdleAfter  = time.Minute
	limiterSweepEvery = time.Minute
	limiterMaxClients = 100_000
)

// ipLimiter keeps one token bucket per client address (per /64 for IPv6,
// where one host usually holds a whole prefix).
type ipLimiter struct {
	limit   rate.Limit
	burst   int
	trusted []netip.Prefix

	mu        sync.Mutex
	clients   map[netip.Addr]*ipClient
	lastSweep time.Time
}

type ipClient struct {
	lim  *rate.Limiter
	seen time.Time
}

// newIPLimiter returns nil when perSecond is 0 (the limit is off).
func newIPLimiter(perSecond float64, trusted []netip.Prefix) *ipLimiter {
	if perSecond <= 0 {
		return nil
	}
	return newLimiter(rate.Limit(perSecond), max(1, int(math.Ceil(2*perSecond))), trusted)
}

func newLimiter(limit rate.Limit, burst int, trusted []netip.Prefix) *ipLimiter {
	return &ipLimiter{limit: limit, burst: burst, trusted: trusted, clients: map[netip.Addr]*ipClient{}}
}

// Failed admin authentications per client IP: a burst of
// adminFailBurst, then one more every adminFailEvery. Always on, whatever
// BINDERY_RATE_LIMIT says: a token of 32+ random characters is not guessed
// at 10 a minute.
const (
	adminFailBurst = 10
	adminFailEvery = 6 * time.Second
)

func newAdminFailLimiter(trusted []netip.Prefix) *ipLimiter {
	return newLimiter(rate.Every(adminFailEvery), adminFailBurst, trusted)
}

// allow takes one token of the request's client; when none is left it
// says how long until one is.
func (l *ipLimiter) allow(r *http.Request, now time.Time) (time.Duration, bool) {
	return l.take(r, now, true)
}

// left says whether the request's client has a token, without taking it:
// when not, how long until it has.
func (l *ipLimiter) left(r *http.Request, now time.Time) (time.Duration, bool) {
	return l.take(r, now, false)
}

func (l *ipLimiter) take(r *http.Request, now time.Time, consume bool) (time.Duration, bool) {
	key := l.clientIP(r)
	if key.Is6() {
		p, _ := key.Prefix(64)
		key = p.Addr()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// A full table is swept early, but at most once a second, so that a
	// flood of new addresses cannot make every request walk the table.
	if since := now.Sub(l.lastSweep); since >= limiterSweepEvery || (len(l.clients) >= limiterMaxClients && since >= time.Second) {
		l.sweep(now)
	}
	cl := l.clients[key]
	if cl == nil {
		cl = &ipClient{lim: rate.NewLimiter(l.limit, l.burst)}
		l.clients[key] = cl
	}
	cl.seen = now
	if !consume && cl.lim.TokensAt(now) >= 1 {
		return 0, true
	}
	if consume && cl.lim.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - cl.lim.TokensAt(now)
	return time.Duration(missing / float64(l.limit) * float64(time.Second)), false
}

// sweep forgets idle clients. Held: l.mu.
func (l *ipLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, cl := range l.clients {
		if now.Sub(cl.seen) >= limiterIdleAfter {
			delete(l.clients, k)
		}
	}
}

func (l *ipLimiter) isTrusted(a netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the TCP peer, unless the peer is a trusted proxy: then it is
// the rightmost X-Forwarded-For address that is not a trusted proxy (the
// entries left of it were written by the client and prove nothing).
func (l *ipLimiter) clientIP(r *http.Request) netip.Addr { return clientIP(r, l.trusted) }

func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	l := &ipLimiter{trusted: trusted}
	peer := remoteAddr(r.RemoteAddr)
	if !peer.IsValid() || !l.isTrusted(peer) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values(echo.HeaderXForwardedFor) {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !l.isTrusted(client) {
			break
		}
	}
	return client
}

// remoteAddr parses http.Request.RemoteAddr ("ip:port").
func remoteAddr(s string) netip.Addr {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
