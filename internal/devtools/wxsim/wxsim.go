// Package wxsim simulates the WeChat server API that Bindery uses (code2session, access
// tokens, getuserphonenumber, getwxacodeunlimit) with the real paths, wire format and
// error codes, plus a control API under /sim/ that creates apps and users and mints the
// codes a mini program would get from wx.login and the phone-number button.
//
// Simulated as documented: HTTP 200 errcode answers with a rid; js_codes and phone codes
// valid 5 minutes, once, for the app that minted them; 100 code2session calls per user
// per minute (45011); openids per app and unionids per open platform that never change;
// /cgi-bin/token minting a new token on each call with a 5-minute overlap for the old
// one; /cgi-bin/stable_token as a separate series that returns the current token, renews
// it in its last 5 minutes, and on force_refresh replaces it at once (ignored within
// 30 s of the last forced refresh, 45009 after 20 a day); 43002 and 47001 on the POST
// endpoints.
//
// Not simulated: IP whitelists (40164), high-risk users (40226) and system errors (-1)
// except through injected faults (POST /sim/faults), daily quotas other than forced
// refreshes, check_path (any page is accepted), the openid parameter of
// getuserphonenumber (accepted, not compared), and the round "mini program code" look:
// getwxacodeunlimit returns a plain QR code holding the scene text, as JPEG. State lives
// in memory: a restart forgets every app, user, code and token.
package wxsim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Timings and quotas of the real platform that the simulator enforces.
const (
	codeTTL         = 5 * time.Minute // js_code and phone codes
	tokenTTL        = 7200 * time.Second
	tokenOverlap    = 5 * time.Minute // an old token keeps working this long after a new fetch
	minuteQuota     = 100             // code2session calls per user per minute
	forceRefreshGap = 30 * time.Second
	forceRefreshDay = 20
	pruneEvery      = time.Minute
	forgetAfter     = time.Hour // used/expired codes and dead tokens are dropped after this
	maxBody         = 1 << 20
)

// china is the zone the platform's daily quotas reset in.
var china = time.FixedZone("CST", 8*3600)

// Options configure a Server. Zero values pick the real clock and crypto/rand.
type Options struct {
	// Now is the clock codes and tokens expire on; tests inject a fake one.
	Now func() time.Time
	// Rand feeds the server seed, codes, tokens and session keys.
	Rand io.Reader
}

// Server is the simulated WeChat API. It is an http.Handler and safe for concurrent use.
type Server struct {
	now func() time.Time
	mux *http.ServeMux

	mu        sync.Mutex // guards everything below, including reads from rand
	rand      io.Reader
	seed      []byte // keys the openid/unionid derivation, so ids are stable per server
	apps      map[string]*app
	users     map[string]*user
	codes     map[string]*grant
	tokens    map[string]*accessToken
	calls     map[rateKey][]time.Time
	faults    map[string][]fault
	lastPrune time.Time
}

type app struct {
	id           string
	secret       string
	openPlatform string
	token        *accessToken // latest from /cgi-bin/token
	stable       *accessToken // latest from /cgi-bin/stable_token
	lastForce    time.Time
	forceDay     string
	forceCount   int
}

type user struct {
	id       string
	country  string // calling code without "+", e.g. "86"
	national string // the number without the calling code
	nickname string
}

func (u *user) hasPhone() bool { return u.national != "" }

func (u *user) e164() string {
	if !u.hasPhone() {
		return ""
	}
	return "+" + u.country + u.national
}

type codeKind int

const (
	loginCode codeKind = iota + 1
	phoneCode
)

// grant is a one-time code minted through the control API.
type grant struct {
	kind    codeKind
	app     string
	user    string
	expires time.Time
	used    bool
}

type accessToken struct {
	value    string
	app      string
	expires  time.Time
	revokeAt time.Time // zero while it is the latest; 40001 from then on
}

// usable reports whether the token is accepted at now.
func (t *accessToken) usable(now time.Time) bool {
	return (t.revokeAt.IsZero() || now.Before(t.revokeAt)) && now.Before(t.expires)
}

type rateKey struct{ app, user string }

// New returns a Server with no apps or users. It panics if opts.Rand cannot supply the
// 32-byte server seed, which only a broken test reader does.
func New(opts Options) *Server {
	s := &Server{
		now:    opts.Now,
		rand:   opts.Rand,
		mux:    http.NewServeMux(),
		apps:   map[string]*app{},
		users:  map[string]*user{},
		codes:  map[string]*grant{},
		tokens: map[string]*accessToken{},
		calls:  map[rateKey][]time.Time{},
		faults: map[string][]fault{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	s.seed = make([]byte, 32)
	if _, err := io.ReadFull(s.rand, s.seed); err != nil {
		panic(fmt.Sprintf("wxsim: reading the server seed: %v", err))
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	// The WeChat endpoints check the method themselves: the real API answers a wrong
	// method with errcode 43002, not HTTP 405.
	s.mux.HandleFunc("/sns/jscode2session", s.api(s.code2Session))
	s.mux.HandleFunc("/cgi-bin/token", s.api(s.token))
	s.mux.HandleFunc("/cgi-bin/stable_token", s.api(s.stableToken))
	s.mux.HandleFunc("/wxa/business/getuserphonenumber", s.api(s.phoneNumber))
	s.mux.HandleFunc("/wxa/getwxacodeunlimit", s.api(s.wxaCode))

	s.mux.HandleFunc("/sim/apps", s.createApp)
	s.mux.HandleFunc("/sim/users", s.createUser)
	s.mux.HandleFunc("/sim/users/{user}", s.getUser)
	s.mux.HandleFunc("/sim/login", s.mintLoginCode)
	s.mux.HandleFunc("/sim/phone-code", s.mintPhoneCode)
	s.mux.HandleFunc("/sim/faults", s.setFaults)
	s.mux.HandleFunc("/sim/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, controlError{"no such endpoint"})
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	s.mux.ServeHTTP(w, r)
}

// randBytes reads n random bytes; the caller holds s.mu (the reader need not be
// goroutine-safe).
func (s *Server) randBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return nil, err
	}
	return b, nil
}

const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randAlnum returns n characters of [0-9A-Za-z], the alphabet of real js_codes.
// The caller holds s.mu.
func (s *Server) randAlnum(n int) (string, error) {
	out := make([]byte, 0, n)
	for len(out) < n {
		b, err := s.randBytes(n)
		if err != nil {
			return "", err
		}
		for _, c := range b {
			// 248 = 4*62: rejecting above it keeps the characters uniform.
			if c < 248 && len(out) < n {
				out = append(out, alnum[int(c)%len(alnum)])
			}
		}
	}
	return string(out), nil
}

// derive is the stable, per-server pseudonym for (purpose, parts): an HMAC under the
// server seed, so openids need no storage and cannot be guessed from the user id.
func (s *Server) derive(prefix string, parts ...string) string {
	m := hmac.New(sha256.New, s.seed)
	for _, p := range parts {
		fmt.Fprintf(m, "%d:%s|", len(p), p)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:27]
}

func (s *Server) openID(appID, userID string) string {
	return s.derive("o", "openid", appID, userID)
}

func (s *Server) unionID(openPlatform, userID string) string {
	if openPlatform == "" {
		return ""
	}
	return s.derive("u", "unionid", openPlatform, userID)
}

// prune forgets codes and tokens nobody can use any more, at most once a minute.
// The caller holds s.mu.
func (s *Server) prune(now time.Time) {
	if now.Sub(s.lastPrune) < pruneEvery {
		return
	}
	s.lastPrune = now
	for k, g := range s.codes {
		if now.Sub(g.expires) > forgetAfter {
			delete(s.codes, k)
		}
	}
	for k, t := range s.tokens {
		if now.Sub(t.expires) > forgetAfter {
			delete(s.tokens, k)
		}
	}
	for k, ts := range s.calls {
		if len(ts) == 0 || now.Sub(ts[len(ts)-1]) > time.Minute {
			delete(s.calls, k)
		}
	}
}

// Error answers of the WeChat endpoints.

// errmsgs holds the messages the real API sends with each code.
var errmsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40013: "invalid appid",
	40014: "invalid access_token",
	40029: "invalid code",
	40097: "invalid args",
	40125: "invalid appsecret",
	40129: "invalid scene",
	40163: "code been used",
	40169: "invalid length for scene, or the data is not json string",
	40226: "high risk user",
	41001: "access_token missing",
	41002: "appid missing",
	41004: "appsecret missing",
	41008: "missing code",
	41030: "invalid page",
	42001: "access_token expired",
	43002: "require POST method",
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit  mustslower  retry next minute",
	47001: "data format error",
}

type errorBody struct {
	Errcode int    `json:"errcode"`
	Errmsg  string `json:"errmsg"`
}

// wxError writes an errcode answer the way WeChat does: HTTP 200, JSON, a request id.
func (s *Server) wxError(w http.ResponseWriter, code int) {
	msg, ok := errmsgs[code]
	if !ok {
		msg = "simulated error"
	}
	writeWX(w, errorBody{Errcode: code, Errmsg: msg + ", rid: " + s.rid()})
}

// rid mimics WeChat's request ids ("<unix hex>-<random>-<random>"), which support
// tickets quote. The caller must not hold s.mu.
func (s *Server) rid() string {
	s.mu.Lock()
	b, err := s.randBytes(8)
	now := s.now()
	s.mu.Unlock()
	if err != nil {
		b = make([]byte, 8)
	}
	return fmt.Sprintf("%08x-%s-%s", uint32(now.Unix()), hex.EncodeToString(b[:4]), hex.EncodeToString(b[4:]))
}

// writeWX writes a 200 JSON answer with the content type the real API uses.
func writeWX(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

type controlError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
