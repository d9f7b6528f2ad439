package devstack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/demo"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// startStack runs the dev stack as `bindery dev` does, on free loopback
// ports and a temp data dir (dir, or a new one when ""), stopped at test
// end. The per-IP rate limit is off: the tests are one client firing fast.
func startStack(t *testing.T, dir string) (*Stack, *testenv.SyncBuffer) {
	t.Helper()
	return startStackWith(t, dir, nil)
}

// startStackWith is startStack with more settings (BINDERY_* names).
func startStackWith(t testing.TB, dir string, more map[string]string) (*Stack, *testenv.SyncBuffer) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	env := map[string]string{
		"BINDERY_HTTP_ADDR":   "127.0.0.1:0",
		"WXSIM_ADDR":          "127.0.0.1:0",
		"DEMO_WEBAPP_ADDR":    "127.0.0.1:0",
		"BINDERY_DATA_DIR":    dir,
		"BINDERY_NATS_LISTEN": "off",
		"BINDERY_RATE_LIMIT":  "0",
	}
	for k, v := range more {
		env[k] = v
	}
	cfg, addrs, err := LoadConfig(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := Start(ctx, cfg, addrs, log)
	if err != nil {
		t.Fatalf("dev stack: %v\n%s", err, logs)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st.Close(ctx)
		if t.Failed() {
			t.Logf("bindery log:\n%s", logs)
		}
	})
	return st, logs
}

// getJSON reads url into v and returns the status.
func getJSON(t *testing.T, url, bearer string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, data)
		}
	}
	return resp.StatusCode
}

// The stack starts on free ports, serves the pages, registers the demo app
// at the simulator and in bindery, and a restart on the same data dir finds
// the app and appends nothing for it.
func TestStartProvisionsTheDemoIdempotently(t *testing.T) {
	dir := t.TempDir()
	st, logs := startStack(t, dir)
	if !st.Provisioned {
		t.Fatal("first start did not register the demo app")
	}
	var app struct {
		ID         string   `json:"id"`
		Kind       string   `json:"kind"`
		MatchRules []string `json:"match_rules"`
		OnNoMatch  string   `json:"on_no_match"`
		WeChat     struct {
			AppID     string `json:"appid"`
			SecretSet bool   `json:"secret_set"`
		} `json:"wechat"`
	}
	if s := getJSON(t, st.URL+"/v1/apps/"+demo.App, "dev", &app); s != http.StatusOK {
		t.Fatalf("GET demo app: %d", s)
	}
	if app.Kind != "wechat" || app.WeChat.AppID != demo.WeChatAppID || !app.WeChat.SecretSet ||
		strings.Join(app.MatchRules, ",") != "unionid,openid,phone" || app.OnNoMatch != "register" {
		t.Fatalf("demo app = %+v", app)
	}
	var cfg map[string]string
	if s := getJSON(t, st.URL+"/demo/config.json", "", &cfg); s != http.StatusOK || cfg["app"] != demo.App || cfg["appid"] != demo.WeChatAppID {
		t.Fatalf("config.json: %d %v", s, cfg)
	}
	for _, p := range []string{"/demo/pc", "/demo/phone", "/demo/assets/api.js", "/demo/assets/demo.css"} {
		if s := getJSON(t, st.URL+p, "", nil); s != http.StatusOK {
			t.Errorf("GET %s: %d", p, s)
		}
	}
	info, err := os.Stat(filepath.Join(dir, demo.SecretFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", info, err)
	}
	secret, _ := os.ReadFile(filepath.Join(dir, demo.SecretFile))
	if strings.Contains(logs.String(), strings.TrimSpace(string(secret))) {
		t.Fatal("the demo app secret is in the log")
	}
	st.Close(context.Background())

	again, _ := startStack(t, dir)
	if again.Provisioned {
		t.Fatal("a restart registered the demo app again")
	}
	// The simulator forgot everything, yet knows the app again: a login
	// code for a new user works end to end.
	var user struct{ User string }
	postJSON(t, again.URL+"/demo/sim/users", map[string]string{"nickname": "Bo"}, &user)
	var code struct{ Code string }
	postJSON(t, again.URL+"/demo/sim/login", map[string]string{"appid": demo.WeChatAppID, "user": user.User}, &code)
	var out struct{ Status string }
	postJSON(t, again.URL+"/v1/apps/demo/login/code", map[string]string{"code": code.Code}, &out)
	if out.Status != "USER_REGISTER" {
		t.Fatalf("login after restart: %+v", out)
	}
}

func postJSON(t *testing.T, url string, body, v any) {
	t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, got)
	}
	if err := json.Unmarshal(got, v); err != nil {
		t.Fatalf("POST %s: %v: %s", url, err, got)
	}
}

// The simulator proxy forwards only the user and code endpoints, and
// every refusal is a problem document.
func TestDemoSimProxyRefusals(t *testing.T) {
	st, _ := startStack(t, "")
	cases := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/demo/sim/apps", `{"appid":"x","secret":"y"}`, 404, "not_found"},
		{"POST", "/demo/sim/faults", `{}`, 404, "not_found"},
		{"GET", "/demo/sim/login", ``, 404, "not_found"},
		{"POST", "/demo/sim/login", `{"appid":"` + demo.WeChatAppID + `","user":"user_nobody"}`, 404, "simulator_not_found"},
		{"POST", "/demo/sim/users", `{"phone":"not a phone"}`, 400, "simulator_refused"},
		{"POST", "/demo/sim/users", `{"bogus":1}`, 400, "simulator_refused"},
		{"POST", "/demo/sim/users", `{"nickname":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body_too_large"},
		{"GET", "/demo/sim/users/..%2Fapps", ``, 404, "not_found"},
		{"GET", "/demo/assets/../../go.mod", ``, 404, "not_found"},
		{"GET", "/demo/assets/", ``, 404, "not_found"},
		{"GET", "/demo/nothing", ``, 404, "not_found"},
		{"POST", "/demo/pc", ``, 405, "method_not_allowed"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, st.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p struct{ Code string }
		_ = json.Unmarshal(data, &p)
		if resp.StatusCode != c.status || p.Code != c.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s %s: %d %s %q, want %d %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), p.Code, c.status, c.code)
		}
	}
	// Pages carry a content security policy: no inline script can run.
	resp, err := http.Get(st.URL + "/demo/phone")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP = %q", csp)
	}
}

// Outside dev mode there is no /demo.
func TestNoDemoOutsideDevMode(t *testing.T) {
	env := testenv.Start(t, "", nil)
	if r := env.Do("GET", "/demo/pc", nil); r.Status != http.StatusNotFound {
		t.Fatalf("/demo/pc outside dev mode: %d", r.Status)
	}
	for _, r := range env.App.API.Echo().Routes() {
		if strings.HasPrefix(r.Path, "/demo") {
			t.Fatalf("route %s %s outside dev mode", r.Method, r.Path)
		}
	}
}
