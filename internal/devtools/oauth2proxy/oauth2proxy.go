// Package oauth2proxy finds or builds oauth2-proxy, a relying party nobody
// here wrote, for the tests that put it in front of an upstream with
// Bindery as its OpenID Provider. It is built from its Go module with `go
// install` into a cache directory, never a dependency of Bindery's module.
package oauth2proxy

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Module and Version are what is built.
const (
	Module  = "github.com/oauth2-proxy/oauth2-proxy/v7"
	Version = "v7.15.6"
)

// CacheDir is where the binary is kept between runs:
// $HOME/.cache/bindery/oauth2-proxy/<Version> (CI caches $HOME/.cache).
func CacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "bindery", "oauth2-proxy", Version), nil
}

// Binary returns the oauth2-proxy executable: BINDERY_OAUTH2_PROXY when
// set, else the cached build, built on first use (about a minute with a
// cold module cache). When it cannot be built (no network to the module
// proxy) the test fails in CI (CI set) and is skipped elsewhere.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BINDERY_OAUTH2_PROXY"); p != "" {
		return p
	}
	dir, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "oauth2-proxy")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Built into a directory of its own, then renamed into place, so two
	// test processes building at once never run a half-written file.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "install", Module+"@"+Version)
	cmd.Dir = tmp // outside Bindery's module: its go.mod stays out of it
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := "building oauth2-proxy " + Version + " (go install " + Module + "@" + Version + "): " + err.Error() + "\n" + string(out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if err := os.Rename(filepath.Join(tmp, "oauth2-proxy"), bin); err != nil {
		t.Fatal(err)
	}
	return bin
}
