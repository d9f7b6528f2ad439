package wechat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/devtools/wxsim"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a wxsim server behind a wrapper that counts calls per path, remembers the access
// tokens clients sent, and lets a test answer a call in its place.
type env struct {
	t     *testing.T
	url   string
	clock *clock

	mu       sync.Mutex
	hits     map[string]int
	tokens   []string
	override func(w http.ResponseWriter, r *http.Request) bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}, hits: map[string]int{}}
	sim := wxsim.New(wxsim.Options{Now: e.clock.Now})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		if !strings.HasPrefix(r.URL.Path, "/sim/") {
			e.hits[r.URL.Path]++
		}
		if tok := r.URL.Query().Get("access_token"); tok != "" {
			e.tokens = append(e.tokens, tok)
		}
		override := e.override
		e.mu.Unlock()
		if override != nil && override(w, r) {
			return
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *env) client(opts ...wechat.Option) *wechat.Client {
	opts = append([]wechat.Option{wechat.WithClock(e.clock.Now), wechat.WithRetry(2, time.Millisecond)}, opts...)
	return wechat.New(e.url, opts...)
}

func (e *env) hitCount(path string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hits[path]
}

func (e *env) setOverride(f func(w http.ResponseWriter, r *http.Request) bool) {
	e.mu.Lock()
	e.override = f
	e.mu.Unlock()
}

// post calls the simulator's control API (or stable_token directly) and decodes the answer.
func (e *env) post(path string, body any) map[string]any {
	e.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(e.url+path, "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		e.t.Fatalf("%s: %v", path, err)
	}
	if resp.StatusCode >= 300 {
		e.t.Fatalf("%s: HTTP %d %v", path, resp.StatusCode, m)
	}
	return m
}

func (e *env) app(appid, secret, openPlatform string) wechat.Credentials {
	e.post("/sim/apps", map[string]string{"appid": appid, "secret": secret, "open_platform": openPlatform})
	return wechat.Credentials{AppID: appid, Secret: secret}
}

func (e *env) user(phone string) string {
	return e.post("/sim/users", map[string]string{"phone": phone})["user"].(string)
}

func (e *env) loginCode(appid, user string) string {
	return e.post("/sim/login", map[string]string{"appid": appid, "user": user})["code"].(string)
}

func (e *env) phoneCode(appid, user string) string {
	return e.post("/sim/phone-code", map[string]string{"appid": appid, "user": user})["code"].(string)
}

func (e *env) view(user, appid string) map[string]any {
	e.t.Helper()
	resp, err := http.Get(e.url + "/sim/users/" + user + "?appid=" + appid)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// answerOnce makes the next call to path get body (HTTP 200 JSON) instead of the simulator's.
func answerOnce(path, body string) func(w http.ResponseWriter, r *http.Request) bool {
	var once sync.Once
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != path {
			return false
		}
		answered := false
		once.Do(func() {
			w.Header().Set("Content-Type", "application/json; encoding=utf-8")
			_, _ = io.WriteString(w, body)
			answered = true
		})
		return answered
	}
}

func TestCode2Session(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withOP := e.app("wxA", "secretA", "op1")
	without := e.app("wxB", "secretB", "")
	u := e.user("")
	c := e.client()
	ctx := context.Background()

	s, err := c.Code2Session(ctx, withOP, e.loginCode("wxA", u))
	if err != nil {
		t.Fatal(err)
	}
	want := e.view(u, "wxA")
	if s.OpenID != want["openid"] || s.UnionID != want["unionid"] || s.UnionID == "" || s.SessionKey == "" {
		t.Fatalf("session %+v, simulator says %v", s, want)
	}

	s2, err := c.Code2Session(ctx, without, e.loginCode("wxB", u))
	if err != nil {
		t.Fatal(err)
	}
	if s2.UnionID != "" || s2.OpenID == s.OpenID || s2.OpenID == "" {
		t.Fatalf("session without open platform: %+v", s2)
	}
}

func TestCode2SessionErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cred := e.app("wxA", "secretA", "")
	e.app("wxB", "secretB", "")
	u := e.user("")
	c := e.client()
	ctx := context.Background()
	const path = "/sns/jscode2session"

	t.Run("invalid code", func(t *testing.T) {
		before := e.hitCount(path)
		_, err := c.Code2Session(ctx, cred, "bogus")
		if !wechat.IsInvalidCode(err) {
			t.Fatalf("err %v, want 40029", err)
		}
		if n := e.hitCount(path) - before; n != 1 {
			t.Fatalf("code sent %d times, want once", n)
		}
	})
	t.Run("other app's code", func(t *testing.T) {
		if _, err := c.Code2Session(ctx, cred, e.loginCode("wxB", u)); !wechat.IsInvalidCode(err) {
			t.Fatalf("err %v, want 40029", err)
		}
	})
	t.Run("replay", func(t *testing.T) {
		code := e.loginCode("wxA", u)
		if _, err := c.Code2Session(ctx, cred, code); err != nil {
			t.Fatal(err)
		}
		before := e.hitCount(path)
		_, err := c.Code2Session(ctx, cred, code)
		if !wechat.IsCodeUsed(err) {
			t.Fatalf("err %v, want 40163", err)
		}
		if n := e.hitCount(path) - before; n != 1 {
			t.Fatalf("replayed code sent %d times, want once", n)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		_, err := c.Code2Session(ctx, wechat.Credentials{AppID: "wxA", Secret: "nope"}, e.loginCode("wxA", u))
		if !wechat.IsBadCredentials(err) {
			t.Fatalf("err %v, want 40125", err)
		}
		_, err = c.Code2Session(ctx, wechat.Credentials{AppID: "wxZ", Secret: "nope"}, "x")
		if !wechat.IsBadCredentials(err) {
			t.Fatalf("err %v, want 40013", err)
		}
		var we *wechat.Error
		if !errors.As(err, &we) || we.Code != 40013 || !strings.Contains(err.Error(), "40013") {
			t.Fatalf("err %v: want *Error with code 40013 in its message", err)
		}
	})
	t.Run("busy is not retried with the same code", func(t *testing.T) {
		e.post("/sim/faults", map[string]any{"path": path, "errcode": -1})
		before := e.hitCount(path)
		_, err := c.Code2Session(ctx, cred, e.loginCode("wxA", u))
		var we *wechat.Error
		if !errors.As(err, &we) || !we.Temporary() {
			t.Fatalf("err %v, want a temporary *Error", err)
		}
		if n := e.hitCount(path) - before; n != 1 {
			t.Fatalf("code sent %d times, want once", n)
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		e.post("/sim/faults", map[string]any{"path": path, "errcode": 45011})
		if _, err := c.Code2Session(ctx, cred, e.loginCode("wxA", u)); !wechat.IsRateLimited(err) {
			t.Fatalf("err %v, want 45011", err)
		}
	})
}

func TestPhoneNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	credA := e.app("wxA", "secretA", "")
	e.app("wxB", "secretB", "")
	u := e.user("13800138000")
	c := e.client()
	ctx := context.Background()

	p, err := c.PhoneNumber(ctx, credA, e.phoneCode("wxA", u))
	if err != nil {
		t.Fatal(err)
	}
	if p != (wechat.Phone{E164: "+8613800138000", PurePhoneNumber: "13800138000", CountryCode: "86"}) {
		t.Fatalf("phone %+v", p)
	}

	// A code minted in app B is worthless to app A.
	if _, err := c.PhoneNumber(ctx, credA, e.phoneCode("wxB", u)); !wechat.IsInvalidCode(err) {
		t.Fatalf("other app's code: %v, want 40029", err)
	}

	// An answer watermarked for another app is refused even if WeChat said ok.
	e.setOverride(answerOnce("/wxa/business/getuserphonenumber",
		`{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"+86 13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{"timestamp":1,"appid":"wxB"}}}`))
	if _, err := c.PhoneNumber(ctx, credA, e.phoneCode("wxA", u)); !errors.Is(err, wechat.ErrWatermark) {
		t.Fatalf("foreign watermark: %v, want ErrWatermark", err)
	}

	// countryCode as a number, as some of WeChat's examples show it.
	e.setOverride(answerOnce("/wxa/business/getuserphonenumber",
		`{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"+1 4155550100","purePhoneNumber":"4155550100","countryCode":1,"watermark":{"timestamp":1,"appid":"wxA"}}}`))
	if p, err := c.PhoneNumber(ctx, credA, "anything"); err != nil || p.E164 != "+14155550100" {
		t.Fatalf("numeric countryCode: %+v %v", p, err)
	}
}

func TestUnlimitedQRCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cred := e.app("wxA", "secretA", "")
	c := e.client()
	ctx := context.Background()

	img, err := c.UnlimitedQRCode(ctx, cred, wechat.QRCodeRequest{Scene: "q=abc123", Page: "pages/auth/auth", CheckPath: true, EnvVersion: "release", Width: 300})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(img))
	if err != nil || cfg.Width != 300 {
		t.Fatalf("image: %v %+v", err, cfg)
	}

	for _, tt := range []struct {
		req  wechat.QRCodeRequest
		want int
	}{
		{wechat.QRCodeRequest{Scene: ""}, 40169},
		{wechat.QRCodeRequest{Scene: "a b"}, 40129},
		{wechat.QRCodeRequest{Scene: "a", Page: "/pages/x"}, 41030},
	} {
		_, err := c.UnlimitedQRCode(ctx, cred, tt.req)
		var we *wechat.Error
		if !errors.As(err, &we) || we.Code != tt.want {
			t.Errorf("%+v: err %v, want errcode %d", tt.req, err, tt.want)
		}
	}
}

func TestAccessTokenCached(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cred := e.app("wxA", "secretA", "")
	u := e.user("13800138000")
	c := e.client()
	ctx := context.Background()

	for range 3 {
		if _, err := c.PhoneNumber(ctx, cred, e.phoneCode("wxA", u)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.UnlimitedQRCode(ctx, cred, wechat.QRCodeRequest{Scene: "x"}); err != nil {
		t.Fatal(err)
	}
	if n := e.hitCount("/cgi-bin/stable_token"); n != 1 {
		t.Fatalf("stable_token called %d times for 4 calls, want 1", n)
	}
	if n := e.hitCount("/cgi-bin/token"); n != 0 {
		t.Fatalf("/cgi-bin/token called %d times; the client should use stable_token", n)
	}

	// Concurrent callers of a fresh client share one fetch. (Twenty codes
	// drawn at once under -race on a busy machine can take longer than the
	// default 5 s per attempt; the point here is the count of fetches.)
	fresh := e.client(wechat.WithTimeout(time.Minute))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := fresh.UnlimitedQRCode(ctx, cred, wechat.QRCodeRequest{Scene: "x"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := e.hitCount("/cgi-bin/stable_token"); n != 2 {
		t.Fatalf("stable_token called %d times in all, want 2 (one per client)", n)
	}

	// Five minutes before expiry the client renews ahead of time; the server, whose
	// stable token is then in its last five minutes, hands out a new one.
	e.clock.Advance(7200*time.Second - 5*time.Minute)
	if _, err := c.UnlimitedQRCode(ctx, cred, wechat.QRCodeRequest{Scene: "x"}); err != nil {
		t.Fatal(err)
	}
	if n := e.hitCount("/cgi-bin/stable_token"); n != 3 {
		t.Fatalf("stable_token called %d times, want a refresh ahead of expiry", n)
	}
}

func TestAccessTokenRefreshedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cred := e.app("wxA", "secretA", "")
	u := e.user("13800138000")
	c := e.client()
	ctx := context.Background()
	const phonePath = "/wxa/business/getuserphonenumber"

	if _, err := c.PhoneNumber(ctx, cred, e.phoneCode("wxA", u)); err != nil {
		t.Fatal(err)
	}

	// Another party forces a refresh: the client's cached token now answers 40001.
	e.post("/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": "wxA", "secret": "secretA", "force_refresh": true})
	before := e.hitCount(phonePath)
	if _, err := c.PhoneNumber(ctx, cred, e.phoneCode("wxA", u)); err != nil {
		t.Fatalf("after a forced refresh elsewhere: %v", err)
	}
	if n := e.hitCount(phonePath) - before; n != 2 {
		t.Fatalf("phone endpoint called %d times, want 2 (40001, then with the new token)", n)
	}
	if n := e.hitCount("/cgi-bin/stable_token"); n != 3 {
		t.Fatalf("stable_token called %d times, want 3 (client, other party, client refresh)", n)
	}

	// The simulator's clock passes the token's expiry while the client's does not: 42001.
	e.clock.Advance(2 * time.Hour)
	client2 := wechat.New(e.url, wechat.WithRetry(0, 0)) // real clock, so its cache thinks the token fresh
	if _, err := client2.UnlimitedQRCode(ctx, cred, wechat.QRCodeRequest{Scene: "x"}); err != nil {
		t.Fatal(err)
	}
	// Force the simulator's token out from under client2.
	e.clock.Advance(3 * time.Hour)
	if _, err := client2.UnlimitedQRCode(ctx, cred, wechat.QRCodeRequest{Scene: "x"}); err != nil {
		t.Fatalf("after expiry on the server: %v", err)
	}

	// A token that stays rejected is refreshed once, not forever.
	e.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != phonePath {
			return false
		}
		_, _ = io.WriteString(w, `{"errcode":40014,"errmsg":"invalid access_token"}`)
		return true
	})
	before = e.hitCount(phonePath)
	_, err := c.PhoneNumber(ctx, cred, "code")
	var we *wechat.Error
	if !errors.As(err, &we) || we.Code != 40014 {
		t.Fatalf("err %v, want 40014", err)
	}
	if n := e.hitCount(phonePath) - before; n != 2 {
		t.Fatalf("phone endpoint called %d times, want 2", n)
	}
}

func TestBusyRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cred := e.app("wxA", "secretA", "")
	c := e.client()
	ctx := context.Background()

	e.setOverride(answerOnce("/cgi-bin/stable_token", `{"errcode":-1,"errmsg":"system error"}`))
	if _, err := c.UnlimitedQRCode(ctx, cred, wechat.QRCodeRequest{Scene: "x"}); err != nil {
		t.Fatalf("token fetch after -1: %v", err)
	}
	if n := e.hitCount("/cgi-bin/stable_token"); n != 2 {
		t.Fatalf("stable_token called %d times, want 2", n)
	}

	e.setOverride(answerOnce("/wxa/getwxacodeunlimit", `{"errcode":-1,"errmsg":"system error"}`))
	img, err := c.UnlimitedQRCode(ctx, cred, wechat.QRCodeRequest{Scene: "x"})
	if err != nil {
		t.Fatalf("after -1 once: %v", err)
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(img)); err != nil {
		t.Fatal(err)
	}
	if n := e.hitCount("/wxa/getwxacodeunlimit"); n != 3 {
		t.Fatalf("getwxacodeunlimit called %d times in all, want 3", n)
	}

	// Busy on every try: give up after the configured retries.
	e.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/wxa/getwxacodeunlimit" {
			return false
		}
		_, _ = io.WriteString(w, `{"errcode":-1,"errmsg":"system error"}`)
		return true
	})
	before := e.hitCount("/wxa/getwxacodeunlimit")
	_, err = c.UnlimitedQRCode(ctx, cred, wechat.QRCodeRequest{Scene: "x"})
	var we *wechat.Error
	if !errors.As(err, &we) || !we.Temporary() {
		t.Fatalf("err %v, want -1", err)
	}
	if n := e.hitCount("/wxa/getwxacodeunlimit") - before; n != 3 {
		t.Fatalf("called %d times, want 1 + 2 retries", n)
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cred := e.app("wxA", "secretA", "")
	u := e.user("")
	ctx := context.Background()
	c := e.client()

	failWith := func(path string, status int, body string) {
		e.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != path {
				return false
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
			return true
		})
	}

	t.Run("non-200 on code2session is not retried", func(t *testing.T) {
		failWith("/sns/jscode2session", http.StatusBadGateway, `{"errcode":0}`)
		before := e.hitCount("/sns/jscode2session")
		_, err := c.Code2Session(ctx, cred, e.loginCode("wxA", u))
		if !errors.Is(err, wechat.ErrUnavailable) || !strings.Contains(err.Error(), "502") {
			t.Fatalf("err %v, want ErrUnavailable with the status", err)
		}
		if n := e.hitCount("/sns/jscode2session") - before; n != 1 {
			t.Fatalf("code sent %d times, want once", n)
		}
	})
	t.Run("bad JSON", func(t *testing.T) {
		failWith("/sns/jscode2session", http.StatusOK, `<html>gateway</html>`)
		if _, err := c.Code2Session(ctx, cred, e.loginCode("wxA", u)); !errors.Is(err, wechat.ErrUnavailable) {
			t.Fatalf("err %v, want ErrUnavailable", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		e.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/sns/jscode2session" {
				return false
			}
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return true
		})
		impatient := e.client(wechat.WithTimeout(100 * time.Millisecond))
		_, err := impatient.Code2Session(ctx, cred, e.loginCode("wxA", u))
		if !errors.Is(err, wechat.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want ErrUnavailable wrapping a deadline", err)
		}
	})
	t.Run("token fetch retried through a 503", func(t *testing.T) {
		var once sync.Once
		e.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
			failed := false
			if r.URL.Path == "/cgi-bin/stable_token" {
				once.Do(func() {
					w.WriteHeader(http.StatusServiceUnavailable)
					failed = true
				})
			}
			return failed
		})
		if _, err := c.UnlimitedQRCode(ctx, cred, wechat.QRCodeRequest{Scene: "x"}); err != nil {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("no server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		dead := wechat.New("http://"+addr, wechat.WithRetry(1, time.Millisecond))
		_, err = dead.PhoneNumber(ctx, cred, "code")
		if !errors.Is(err, wechat.ErrUnavailable) {
			t.Fatalf("err %v, want ErrUnavailable", err)
		}
	})
}

// TestNoSecretsInLogs runs every kind of call, good and bad, with debug logging on and
// checks that no secret, access token, session key or code reaches the log or an error.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const secret = "s3cr3t-VALUE-that-must-not-leak"
	cred := e.app("wxA", secret, "op")
	u := e.user("13800138000")
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := e.client(wechat.WithLogger(log), wechat.WithTimeout(200*time.Millisecond))
	ctx := context.Background()

	var errs []string
	var secrets []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}

	jsCode := e.loginCode("wxA", u)
	s, err := c.Code2Session(ctx, cred, jsCode)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, s.SessionKey, jsCode)
	log.Info("logged in", "session", s, "cred", cred) // LogValue hides the key and secret
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, s) + fmt.Sprintf(f, cred); strings.Contains(out, s.SessionKey) || strings.Contains(out, secret) {
			t.Errorf("%s prints a secret: %s", f, out)
		}
	}

	_, err = c.Code2Session(ctx, cred, jsCode) // 40163
	note(err)
	_, err = c.PhoneNumber(ctx, cred, e.phoneCode("wxA", u))
	note(err)
	e.post("/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": "wxA", "secret": secret, "force_refresh": true})
	_, err = c.UnlimitedQRCode(ctx, cred, wechat.QRCodeRequest{Scene: "x"}) // 40001, refresh
	note(err)
	_, err = c.Code2Session(ctx, wechat.Credentials{AppID: "wxA", Secret: secret + "x"}, e.loginCode("wxA", u))
	note(err)
	e.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/sns/jscode2session" {
			time.Sleep(400 * time.Millisecond) // past the client's timeout
		}
		return false
	})
	_, err = c.Code2Session(ctx, cred, e.loginCode("wxA", u))
	note(err)
	dead := wechat.New("http://127.0.0.1:1", wechat.WithLogger(log), wechat.WithRetry(0, 0))
	_, err = dead.Code2Session(ctx, cred, "dead-code")
	note(err)
	_, err = dead.PhoneNumber(ctx, cred, "dead-code")
	note(err)

	e.mu.Lock()
	secrets = append(secrets, e.tokens...)
	e.mu.Unlock()
	if len(secrets) < 4 {
		t.Fatalf("test saw too few secrets to be meaningful: %d", len(secrets))
	}
	secrets = append(secrets, secret)

	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if !strings.Contains(out, "/sns/jscode2session") || !strings.Contains(out, "40163") {
		t.Fatalf("log lacks paths or errcodes:\n%s", out)
	}
	all := out + strings.Join(errs, "\n")
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("secret %.8s… appears in logs or errors:\n%s", s, all)
		}
	}
	if strings.Contains(all, "access_token=") || strings.Contains(all, "secret=") {
		t.Errorf("a query string appears in logs or errors:\n%s", all)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
