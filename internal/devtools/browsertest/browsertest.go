// Package browsertest finds and configures the headless Chromium that the
// browser tests of the demo, the hosted pages and the console drive.
package browsertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium returns the browser to drive. Without one the test fails in CI
// (CI set) and is skipped elsewhere, saying how to get it.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BINDERY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (install Debian's chromium: apt-get install chromium, or run `make test-deps`; or set BINDERY_CHROMIUM)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// ArtifactDir is where screenshots go: artifacts/<sub> at the repository
// root (git-ignored), or a temp dir when that is not writable.
func ArtifactDir(t testing.TB, sub string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		return t.TempDir()
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			return t.TempDir()
		}
		dir = filepath.Dir(dir)
	}
	out := filepath.Join(dir, "artifacts", sub)
	if os.MkdirAll(out, 0o755) == nil {
		if f, err := os.CreateTemp(out, ".probe"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return out
		}
	}
	return t.TempDir()
}

// Options are the flags of a headless Chromium that runs as root in a
// container with a fresh profile. The background-networking flags matter:
// this machine's closed network refuses Chromium's own connections.
func Options(exe, profile string, width, height int) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(width, height),
	}
}
