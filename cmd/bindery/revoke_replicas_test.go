package main_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/crypto/hostcode"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

// A session revoked on replica B cannot be refreshed on replica A, not even
// once, however recently A itself rotated it: the refresh decides on the
// session aggregate in the store (an append on a stale cached state is a
// conflict, and the decision is made again on fresh state), never on a view
// that may lag. Each trial warms A's cache with a refresh of its own first,
// so that A holds the session as active when B revokes it.
func TestRevokeOnOneReplicaRefusesRefreshOnAnother(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	ns := natstest.Server(t, "")
	nats := "BINDERY_NATS_URL=" + ns.ClientURL()
	a := start(t, bin, t.TempDir(), freeAddr(t), nats)
	b := start(t, bin, t.TempDir(), freeAddr(t), nats)

	const secret = "host-app-secret-0123456789abcdef"
	mustCall(t, "PUT", "http://"+a.addr+"/v1/apps/portal", `{"name":"Portal","kind":"host","host":{"secret":"`+secret+`"},"match_rules":["external_id"],"on_no_match":"bind"}`, 0)
	mustCall(t, "POST", "http://"+a.addr+"/v1/accounts", `{"external_id":"u-7","display_name":"Ada"}`, 201)

	// loginOnA logs the host user in on A; A's views may not hold the
	// account for a moment after its creation.
	loginOnA := func() string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			code := hostcode.Mint([]byte(secret), "u-7", time.Now().Add(2*time.Minute), hostcode.NewNonce())
			status, m, err := call("POST", "http://"+a.addr+"/v1/apps/portal/login/code", fmt.Sprintf(`{"code":%q}`, code))
			if err != nil {
				t.Fatal(err)
			}
			if status == 200 && m["status"] == "OK" {
				return m["session_token"].(string)
			}
			if time.Now().After(deadline) {
				t.Fatalf("login on A: %d %v", status, m)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	const trials = 20
	for i := range trials {
		tok := loginOnA()
		warmed := mustCall(t, "POST", "http://"+a.addr+"/v1/sessions/refresh", fmt.Sprintf(`{"session_token":%q}`, tok), 200)
		tok = warmed["session_token"].(string)

		// B has never seen this session in its cache; the revoke reads it
		// from the store.
		status, m, err := call("POST", "http://"+b.addr+"/v1/sessions/revoke", fmt.Sprintf(`{"session_token":%q}`, tok))
		if err != nil || status != 204 {
			t.Fatalf("trial %d: revoke on B: %d %v %v", i, status, m, err)
		}
		status, m, err = call("POST", "http://"+a.addr+"/v1/sessions/refresh", fmt.Sprintf(`{"session_token":%q}`, tok))
		if err != nil {
			t.Fatal(err)
		}
		if status != 401 || m["code"] != "invalid_session" {
			t.Fatalf("trial %d: refresh on A right after the revoke on B: %d %v (want 401 invalid_session)", i, status, m)
		}
	}
}
