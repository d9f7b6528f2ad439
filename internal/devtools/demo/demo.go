// Package demo holds what `bindery dev` shows a newcomer: the demo pages
// (embedded, plain HTML, JavaScript and CSS: no build step) and the
// provisioning of the demo app, registered both at the WeChat simulator and
// in Bindery.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The demo app: its id in Bindery, its WeChat appid at the simulator, and
// the simulated open platform it belongs to (so its users get unionids).
const (
	App          = "demo"
	WeChatAppID  = "wxdemo000000000001"
	OpenPlatform = "demo-platform"
)

// SecretFile is the file in the data dir that keeps the demo app's WeChat
// secret, so that the simulator (which forgets everything on restart) can
// be given the same secret that Bindery holds.
const SecretFile = "demo-wechat.secret"

//go:embed web
var web embed.FS

// Pages are the demo pages: pc.html, phone.html and assets/.
var Pages fs.FS = mustSub(web, "web")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // only a broken embed pattern gets here
	}
	return sub
}

// Target is where the demo app is registered.
type Target struct {
	// API is Bindery's base URL and AdminToken its admin token.
	API, AdminToken string
	// SimURL is the WeChat simulator's base URL.
	SimURL string
	// DataDir keeps the app secret (SecretFile).
	DataDir string
	// Client makes the calls; nil means a client with a 10 s timeout.
	Client *http.Client
}

// Result says what Provision did.
type Result struct {
	// Registered is true when the app was written to Bindery (first start,
	// or a new secret); false when Bindery already had it.
	Registered bool
}

// Provision makes the demo app exist at the simulator and in Bindery. It
// is idempotent across restarts: the simulator, which keeps everything in
// memory, gets the app again with the same appid and secret each time;
// Bindery gets it only when it does not have it yet (or the secret file
// was new), so a restart appends no event and an admin's later changes to
// the app stay.
func Provision(ctx context.Context, t Target) (Result, error) {
	if t.Client == nil {
		t.Client = &http.Client{Timeout: 10 * time.Second}
	}
	secret, fresh, err := loadSecret(filepath.Join(t.DataDir, SecretFile))
	if err != nil {
		return Result{}, err
	}
	sim := map[string]string{"appid": WeChatAppID, "secret": secret, "open_platform": OpenPlatform}
	if status, body, err := call(ctx, t.Client, http.MethodPost, t.SimURL+"/sim/apps", "", sim); err != nil {
		return Result{}, fmt.Errorf("demo app at the WeChat simulator: %w", err)
	} else if status != http.StatusCreated && status != http.StatusOK {
		return Result{}, fmt.Errorf("demo app at the WeChat simulator: %d %s", status, body)
	}
	status, body, err := call(ctx, t.Client, http.MethodGet, t.API+"/v1/apps/"+App, t.AdminToken, nil)
	if err != nil {
		return Result{}, fmt.Errorf("demo app in bindery: %w", err)
	}
	switch {
	case status == http.StatusOK && !fresh:
		return Result{}, nil
	case status != http.StatusOK && status != http.StatusNotFound:
		return Result{}, fmt.Errorf("demo app in bindery: GET answered %d %s", status, body)
	}
	app := map[string]any{
		"name":        "Bindery demo",
		"kind":        "wechat",
		"wechat":      map[string]string{"appid": WeChatAppID, "secret": secret},
		"match_rules": []string{"unionid", "openid", "phone"},
		"on_no_match": "register",
	}
	status, body, err = call(ctx, t.Client, http.MethodPut, t.API+"/v1/apps/"+App, t.AdminToken, app)
	if err != nil {
		return Result{}, fmt.Errorf("demo app in bindery: %w", err)
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return Result{}, fmt.Errorf("demo app in bindery: PUT answered %d %s", status, body)
	}
	return Result{Registered: true}, nil
}

// loadSecret reads the secret file, or writes a new random secret to it
// (fresh is then true). The file is the owner's only (0600).
func loadSecret(file string) (secret string, fresh bool, err error) {
	data, err := os.ReadFile(file)
	if err == nil {
		if s := strings.TrimSpace(string(data)); s != "" {
			return s, false, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("demo app secret: %w", err)
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", false, fmt.Errorf("demo app secret: %w", err)
	}
	secret = hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", false, fmt.Errorf("demo app secret: %w", err)
	}
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("demo app secret: %w", err)
	}
	return secret, true, nil
}

// call sends a JSON request and returns the status and (a bounded piece
// of) the body. Bodies here may hold the app secret: they are never logged.
func call(ctx context.Context, c *http.Client, method, url, bearer string, body any) (int, string, error) {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, strings.TrimSpace(string(data)), nil
}
