package webapp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SecretFile keeps the web app's client secret in the data dir, so that a
// restart registers the same client again and appends nothing.
const SecretFile = "demo-web.secret"

// Target is where the web app registers itself as an OIDC client.
type Target struct {
	API, AdminToken string // Bindery's base URL and admin token
	App             string // the mini-program app whose users sign in
	DataDir         string
	BaseURL         string // where the web app is served
}

// Provision registers (or re-registers, unchanged) the demo web app's
// client: confidential, its redirect, post-logout and back-channel logout
// URIs under BaseURL. It answers the client secret.
func Provision(ctx context.Context, t Target) (string, error) {
	secret, err := loadSecret(filepath.Join(t.DataDir, SecretFile))
	if err != nil {
		return "", err
	}
	body, _ := json.Marshal(map[string]any{
		"name": "Acme Intranet (demo web app)", "app": t.App, "type": "confidential", "secret": secret,
		"redirect_uris":             []string{t.BaseURL + "/callback"},
		"post_logout_redirect_uris": []string{t.BaseURL + "/signed-out"},
		"backchannel_logout_uri":    t.BaseURL + "/backchannel-logout",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, t.API+"/v1/oidc/clients/"+ClientID, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+t.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", fmt.Errorf("registering the demo web app: HTTP %d: %s", resp.StatusCode, msg)
	}
	return secret, nil
}

// loadSecret reads the secret file, or makes one (mode 0600).
func loadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	secret := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", err
	}
	return secret, nil
}
