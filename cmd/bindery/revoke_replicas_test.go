package main_test

import (
	"fmt"
	"testing"
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
	r := startHostReplicas(t)
	a, b := r.a, r.b
	mustCall(t, "POST", "http://"+a.addr+"/v1/accounts", `{"external_id":"u-7","display_name":"Ada"}`, 201)

	const trials = 20
	for i := range trials {
		tok := r.loginOK(t, a, "u-7")["session_token"].(string)
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
