package handlers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// Named admin tokens: each command's actor is admin:<name>, never anything
// derived from the token.
func TestNamedAdminTokenActor(t *testing.T) {
	const ci = "ci-token-0123456789abcdef0123456789abcdef"
	env := testenv.Start(t, "", map[string]string{"BINDERY_ADMIN_TOKENS": "ci=" + ci})
	r := env.Do("POST", "/v1/accounts", map[string]any{"display_name": "By CI"}, "Authorization", "Bearer "+ci)
	if r.Status != http.StatusCreated {
		t.Fatalf("create with ci: %d %s", r.Status, r.Body)
	}
	byCI := r.Map(t)["id"].(string)
	r = env.Admin("POST", "/v1/accounts", map[string]any{"display_name": "By admin"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create with admin: %d %s", r.Status, r.Body)
	}
	byAdmin := r.Map(t)["id"].(string)
	for id, want := range map[string]string{byCI: "admin:ci", byAdmin: "admin:admin"} {
		r := env.Admin("GET", "/v1/audit/events?aggregate=account/"+id, nil)
		var ev struct{ Actor string }
		if err := json.Unmarshal([]byte(strings.SplitN(string(r.Body), "\n", 2)[0]), &ev); err != nil || ev.Actor != want {
			t.Fatalf("actor of %s: %q (%v) %s", id, ev.Actor, err, r.Body)
		}
		for _, tok := range []string{ci, testenv.AdminToken} {
			h := sha256.Sum256([]byte(tok))
			if strings.Contains(string(r.Body), hex.EncodeToString(h[:])[:8]) {
				t.Fatalf("the history holds a hash of a token: %s", r.Body)
			}
		}
	}
}

// Issue 13, finding 5: 80 wrong admin tokens were 80 × 401, unlogged. Now
// failures are limited per client address (429 with Retry-After) and
// logged at WARN with the address, user agent and request id; other
// addresses are not affected.
func TestAdminAuthFailuresThrottledAndLogged(t *testing.T) {
	env := testenv.Start(t, "", map[string]string{"BINDERY_TRUSTED_PROXIES": "127.0.0.1/32"})
	counts := map[int]int{}
	retryAfter := ""
	for i := 0; i < 80; i++ {
		r := env.Do("GET", "/v1/accounts?username=nobody", nil, "Authorization", "Bearer wrong-token-"+strings.Repeat("x", i),
			"User-Agent", "guesser/1.0", "X-Forwarded-For", "198.51.100.7", "X-Request-Id", "guess-1")
		counts[r.Status]++
		if r.Status == http.StatusTooManyRequests {
			retryAfter = r.Header.Get("Retry-After")
			if !strings.Contains(string(r.Body), `"code":"rate_limited"`) {
				t.Fatalf("429 body %s", r.Body)
			}
		}
	}
	if counts[http.StatusUnauthorized] > 12 || counts[http.StatusTooManyRequests] < 60 || retryAfter == "" || retryAfter == "0" {
		t.Fatalf("answers %v, Retry-After %q", counts, retryAfter)
	}
	// Even the right token waits on that address; another one is served.
	if r := env.Admin("GET", "/v1/accounts?username=nobody", nil, "X-Forwarded-For", "198.51.100.7"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("right token on the throttled address: %d", r.Status)
	}
	if r := env.Admin("GET", "/v1/accounts?username=nobody", nil, "X-Forwarded-For", "198.51.100.8"); r.Status != http.StatusOK {
		t.Fatalf("another address: %d %s", r.Status, r.Body)
	}
	var warned, logged bool
	for _, line := range strings.Split(env.Logs.String(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		if l["level"] == "WARN" && l["msg"] == "security" && l["event"] == "unauthorized" &&
			l["ip"] == "198.51.100.7" && l["user_agent"] == "guesser/1.0" && l["request_id"] == "guess-1" {
			warned = true
		}
		if l["msg"] == "http" && l["ip"] == "198.51.100.7" && l["user_agent"] == "guesser/1.0" {
			logged = true
		}
		if strings.Contains(line, "wrong-token-") {
			t.Fatalf("a token in the log: %s", line)
		}
	}
	if !warned || !logged {
		t.Fatalf("security warning %v, request line with ip and user agent %v", warned, logged)
	}
}
