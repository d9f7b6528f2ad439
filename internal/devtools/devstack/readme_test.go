package devstack

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's quick start is true of a fresh dev stack (issue 13,
// finding 8): its first account command answers the position the README
// shows, which the README explains, and the README names the ports
// `make run` takes and how to move them.
func TestReadmeQuickStartHolds(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	m := regexp.MustCompile(`-d '(\{"username":"alice"[^']*\})'\n# \{"id":"…"\}\s+plus the header X-Bindery-Position: (h\d+\.a\d+)`).FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("README: the quick start's account command and the position it answers were not found")
	}
	body, want := m[1], m[2]
	if !strings.Contains(readme, "A **position** (`"+want+"`)") {
		t.Errorf("README does not explain the position %s it shows", want)
	}
	for _, s := range []string{"**8080**", "**8081**", "**8082**", "**4222**", "BINDERY_HTTP_ADDR=", "WXSIM_ADDR=", "DEMO_WEBAPP_ADDR=", "BINDERY_NATS_LISTEN=", "first", "compiles"} {
		if !strings.Contains(readme, s) {
			t.Errorf("README lacks %q (ports and how to move them, the first run compiling)", s)
		}
	}
	if !strings.HasSuffix(DefaultSimAddr, ":8081") {
		t.Errorf("the simulator's default address %s is not the README's 8081", DefaultSimAddr)
	}

	st, _ := startStack(t, "")
	req, err := http.NewRequest(http.MethodPost, st.URL+"/v1/accounts", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer dev")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("the README's account command: %d", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Bindery-Position"); got != want {
		t.Errorf("a fresh stack answers X-Bindery-Position %s; the README says %s", got, want)
	}
}
