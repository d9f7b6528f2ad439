package handlers_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/crypto/password"
	"github.com/bindery/bindery/internal/devtools/testenv"
	"github.com/bindery/bindery/internal/devtools/wxsim"
)

// loginEnv is a bindery talking to a real wxsim over loopback HTTP, with an
// SMS-gateway webhook that captures the one-time codes it is sent.
type loginEnv struct {
	*testenv.Env
	t     testing.TB
	sim   *httptest.Server
	clock *fakeClock
	hook  *otpHook
	// sessionKeys are the session_keys wxsim handed to Bindery (captured
	// on the wire), for the secret scan.
	mu          sync.Mutex
	sessionKeys []string
	// c2s counts the code2session calls that reached wxsim.
	c2s atomic.Int64
}

// fakeClock is wall time plus an offset a test moves forward; wxsim and
// Bindery's login service both run on it.
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

const otpHookSecret = "otp-hook-secret-0123456789"

// otpHook is the SMS gateway: it checks the signature and keeps the codes.
type otpHook struct {
	mu    sync.Mutex
	codes map[string][]string // by "to"
	all   []string
	bad   int
	fail  bool
}

func (h *otpHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte(otpHookSecret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	var m struct {
		Channel, To, Code, App string
		ExpiresIn              int `json:"expires_in"`
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !hmac.Equal([]byte(r.Header.Get("X-Bindery-Signature")), []byte(want)) || json.Unmarshal(body, &m) != nil || m.ExpiresIn != 300 || m.App == "" {
		h.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if h.fail {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	h.codes[m.To] = append(h.codes[m.To], m.Code)
	h.all = append(h.all, m.Code)
	w.WriteHeader(http.StatusNoContent)
}

func (h *otpHook) last(t testing.TB, to string) string {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.codes[to]
	if len(cs) == 0 {
		t.Fatalf("no one-time code was sent to %s", to)
	}
	return cs[len(cs)-1]
}

func startLogin(t testing.TB) *loginEnv {
	t.Helper()
	return startLoginWith(t, nil)
}

// startLoginWith is startLogin with extra settings (BINDERY_* names).
func startLoginWith(t testing.TB, settings map[string]string) *loginEnv {
	t.Helper()
	e := &loginEnv{t: t, clock: &fakeClock{}, hook: &otpHook{codes: map[string][]string{}}}
	sim := wxsim.New(wxsim.Options{Now: e.clock.Now})
	// Record the session_keys that code2session hands out.
	e.sim = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sns/jscode2session" {
			sim.ServeHTTP(w, r)
			return
		}
		e.c2s.Add(1)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r)
		var ans struct {
			SessionKey string `json:"session_key"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &ans) == nil && ans.SessionKey != "" {
			e.mu.Lock()
			e.sessionKeys = append(e.sessionKeys, ans.SessionKey)
			e.mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(e.sim.Close)
	hook := httptest.NewServer(e.hook)
	t.Cleanup(hook.Close)
	vars := map[string]string{
		"BINDERY_WECHAT_API_BASE":    e.sim.URL,
		"BINDERY_OTP_WEBHOOK":        hook.URL,
		"BINDERY_OTP_WEBHOOK_SECRET": otpHookSecret,
	}
	for k, v := range settings {
		vars[k] = v
	}
	e.Env = testenv.Start(t, "", vars)
	// Cheap argon2id parameters keep the suite fast under -race; the
	// verification path is the real one.
	e.App.API.Accounts.Hasher = func(pw string) (string, error) {
		return password.HashWithParams(pw, password.CheapParams())
	}
	e.App.Login.SetClock(e.clock.Now)
	return e
}

// simCall posts to wxsim's control API and decodes the answer.
func (e *loginEnv) simCall(path string, body any) map[string]any {
	e.t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(e.sim.URL+path, "application/json", bytes.NewReader(data))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode >= 300 {
		e.t.Fatalf("wxsim %s: %d %v %v", path, resp.StatusCode, out, err)
	}
	return out
}

func (e *loginEnv) simApp(appid, secret, platform string) {
	e.t.Helper()
	e.simCall("/sim/apps", map[string]any{"appid": appid, "secret": secret, "open_platform": platform})
}

func (e *loginEnv) simUser(phone string) string {
	e.t.Helper()
	body := map[string]any{}
	if phone != "" {
		body["phone"] = phone
	}
	return e.simCall("/sim/users", body)["user"].(string)
}

func (e *loginEnv) code(appid, user string) string {
	e.t.Helper()
	return e.simCall("/sim/login", map[string]any{"appid": appid, "user": user})["code"].(string)
}

func (e *loginEnv) phoneCode(appid, user string) string {
	e.t.Helper()
	return e.simCall("/sim/phone-code", map[string]any{"appid": appid, "user": user})["code"].(string)
}

// simSees is the user as an app sees them (openid, unionid).
func (e *loginEnv) simSees(appid, user string) map[string]any {
	e.t.Helper()
	resp, err := http.Get(e.sim.URL + "/sim/users/" + user + "?appid=" + appid)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// wechatApp registers an app at wxsim and at Bindery.
func (e *loginEnv) wechatApp(id, platform string, extra map[string]any) string {
	e.t.Helper()
	appid, secret := "wx"+strings.ReplaceAll(id, "-", ""), "secret-of-"+id
	e.simApp(appid, secret, platform)
	body := map[string]any{"kind": "wechat", "name": id, "wechat": map[string]any{"appid": appid, "secret": secret}}
	for k, v := range extra {
		body[k] = v
	}
	r := e.Admin("PUT", "/v1/apps/"+id, body)
	if r.Status != http.StatusCreated {
		e.t.Fatalf("put app %s: %d %s", id, r.Status, r.Body)
	}
	return appid
}

// account creates an account over the admin API and returns its id.
func (e *loginEnv) account(body map[string]any) string {
	e.t.Helper()
	r := e.Admin("POST", "/v1/accounts", body)
	if r.Status != http.StatusCreated {
		e.t.Fatalf("create account: %d %s", r.Status, r.Body)
	}
	return r.Map(e.t)["id"].(string)
}

// read reads an account as the admin, once the views have the writes of pos.
func (e *loginEnv) read(id, pos string) map[string]any {
	e.t.Helper()
	r := e.Admin("GET", "/v1/accounts/"+id+"?min_position="+pos, nil)
	if r.Status != 200 {
		e.t.Fatalf("read account: %d %s", r.Status, r.Body)
	}
	return r.Map(e.t)
}

// post calls a public endpoint and checks the status (and problem code).
func (e *loginEnv) post(path string, body any, status int, code string) map[string]any {
	e.t.Helper()
	r := e.Do("POST", path, body)
	if r.Status != status {
		e.t.Fatalf("POST %s %v: status %d, want %d: %s", path, body, r.Status, status, r.Body)
	}
	m := map[string]any{}
	if len(r.Body) > 0 {
		m = r.Map(e.t)
	}
	if code != "" && m["code"] != code {
		e.t.Fatalf("POST %s: code %v, want %s: %s", path, m["code"], code, r.Body)
	}
	if status == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
		e.t.Fatalf("POST %s: 429 without Retry-After", path)
	}
	if status < 300 {
		m["_position"] = r.Header.Get("X-Bindery-Position")
	}
	return m
}

func bindings(acc map[string]any) []map[string]any {
	var out []map[string]any
	list, _ := acc["bindings"].([]any)
	for _, b := range list {
		out = append(out, b.(map[string]any))
	}
	return out
}

func hasBinding(acc map[string]any, kind, app, subject string) bool {
	for _, b := range bindings(acc) {
		if b["kind"] == kind && b["subject"] == subject && (app == "" || b["app"] == app) {
			return true
		}
	}
	return false
}

// storedMsg is one message of either stream, as stored.
type storedMsg struct {
	Stream   string
	Subject  string
	Data     []byte
	Envelope events.Envelope // zero for internal subjects (claims)
}

// allRecords reads every message of both streams.
func allRecords(t testing.TB, e *loginEnv) []storedMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []storedMsg
	js := e.App.Store.JetStream()
	for _, name := range []string{bjs.HistoryStream, bjs.AuthLogStream} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				continue // deleted (none should be) or a gap
			}
			sm := storedMsg{Stream: name, Subject: m.Subject, Data: m.Data}
			if strings.HasPrefix(m.Subject, events.SubjectPrefix) {
				decodeJSON(t, m.Data, &sm.Envelope)
			}
			out = append(out, sm)
		}
	}
	return out
}

func decodeJSON(t testing.TB, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}
