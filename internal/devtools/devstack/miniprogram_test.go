package devstack

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/demo"
)

// repoRoot is the module's root directory (where go.mod is).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatal("go.mod not found above " + dir)
		}
	}
}

// The example mini program's page logic (examples/miniprogram) runs under
// Node's test runner against a real dev stack, with a minimal wx shim:
// wx.login asks the simulator, wx.request is fetch.
func TestMiniProgramExample(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		msg := "node not found: install Node.js (apt-get install nodejs, or `make test-deps`) to test examples/miniprogram"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	root := repoRoot(t)
	st, _ := startStack(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The files one by one: Node 18 and 20 take a directory, Node 21 and
	// later take globs, and a path is both.
	files, err := filepath.Glob(filepath.Join(root, "examples", "miniprogram", "test", "*.test.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no tests in examples/miniprogram/test: %v", err)
	}
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=tap"}, files...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"BINDERY_URL="+st.URL, "WXSIM_URL="+st.SimURL,
		"BINDERY_APP="+demo.App, "WXSIM_APPID="+demo.WeChatAppID,
		"NODE_NO_WARNINGS=1",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test examples/miniprogram/test/*.test.js:\n%s", out)
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
	count := func(name string) int {
		m := regexp.MustCompile(`(?m)^# ` + name + ` (\d+)$`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no %q count in the TAP output", name)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	// The server tests must have run, not skipped for want of a server.
	if pass, fail, skipped := count("pass"), count("fail"), count("skipped"); fail != 0 || skipped != 0 || pass < 10 {
		t.Fatalf("node tests: %d passed, %d failed, %d skipped", pass, fail, skipped)
	}
}
