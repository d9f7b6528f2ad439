package handlers_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/crypto/hostcode"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// An administrator revokes one session family of an account by its id:
// its next refresh is refused, the event names the admin and reason admin,
// and another account's or an unknown session is 404 session_not_found.
func TestAdminRevokesAccountSession(t *testing.T) {
	env := testenv.Start(t, "", nil)
	const secret = "host-secret-0123456789"
	if r := env.Admin("PUT", "/v1/apps/crm", `{"kind":"host","host":{"secret":"`+secret+`"}}`); r.Status >= 300 {
		t.Fatalf("app: %d %s", r.Status, r.Body)
	}
	acc := env.Admin("POST", "/v1/accounts", `{"external_id":"E1","display_name":"Ann"}`).Map(t)["id"].(string)
	other := env.Admin("POST", "/v1/accounts", `{"external_id":"E2"}`).Map(t)["id"].(string)
	login := env.Do("POST", "/v1/apps/crm/login/code", `{"code":"`+hostcode.Mint([]byte(secret), "E1", time.Now().Add(time.Minute), hostcode.NewNonce())+`"}`)
	if login.Status != 200 {
		t.Fatalf("login: %d %s", login.Status, login.Body)
	}
	tok := login.Map(t)["session_token"].(string)
	pos := login.Header.Get("X-Bindery-Position")
	ev := env.Admin("GET", "/v1/audit/events?account="+acc+"&type=session_issued&min_position="+url.QueryEscape(pos), nil)
	var issued struct {
		Data struct {
			SessionID string `json:"session_id"`
		} `json:"data"`
	}
	sc := bufio.NewScanner(strings.NewReader(string(ev.Body)))
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &issued) != nil || issued.Data.SessionID == "" {
		t.Fatalf("session_issued: %s", ev.Body)
	}
	sid := issued.Data.SessionID
	for path, code := range map[string]string{
		"/v1/accounts/" + other + "/sessions/" + sid: "session_not_found",
		"/v1/accounts/" + acc + "/sessions/nope":     "session_not_found",
		"/v1/accounts/" + acc + "/sessions/a.b":      "session_not_found",
		"/v1/accounts/not-an-id/sessions/" + sid:     "not_found",
	} {
		if r := env.Admin("DELETE", path, nil); r.Status != http.StatusNotFound || r.Map(t)["code"] != code {
			t.Errorf("DELETE %s: %d %s, want 404 %s", path, r.Status, r.Body, code)
		}
	}
	if r := env.Do("DELETE", "/v1/accounts/"+acc+"/sessions/"+sid, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("without the admin token: %d", r.Status)
	}
	for range 2 { // idempotent
		if r := env.Admin("DELETE", "/v1/accounts/"+acc+"/sessions/"+sid, nil); r.Status != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
	}
	if r := env.Do("POST", "/v1/sessions/refresh", `{"session_token":"`+tok+`"}`); r.Status != http.StatusUnauthorized {
		t.Fatalf("refresh after the revoke: %d %s", r.Status, r.Body)
	}
	rev := env.Admin("GET", "/v1/audit/events?account="+acc+"&type=session_revoked", nil)
	if n := strings.Count(string(rev.Body), `"reason":"admin"`); n != 1 || !strings.Contains(string(rev.Body), `"actor":"admin`) {
		t.Fatalf("session_revoked events (%d with reason admin): %s", n, rev.Body)
	}
}
