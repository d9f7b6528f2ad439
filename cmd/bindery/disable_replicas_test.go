package main_test

import (
	"fmt"
	"testing"
)

// An account disabled on replica B cannot log in on replica A, not even
// once, however recently A itself logged it in: the login decides on the
// account aggregate read fresh from the store, never on A's view, which may
// not have applied the disable yet. Each trial warms A first (a login of
// its own, which caches the account as active), then disables on B and
// logs in on A at once.
func TestDisableOnOneReplicaRefusesLoginOnAnother(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	r := startHostReplicas(t)
	a, b := r.a, r.b

	const trials = 20
	for i := range trials {
		uid := fmt.Sprintf("u-%d", i)
		acc := mustCall(t, "POST", "http://"+a.addr+"/v1/accounts", `{"external_id":"`+uid+`","display_name":"Ada"}`, 201)
		id := acc["id"].(string)
		r.loginOK(t, a, uid)

		if status, m, err := call("DELETE", "http://"+b.addr+"/v1/accounts/"+id, ""); err != nil || status >= 300 {
			t.Fatalf("trial %d: disable on B: %d %v %v", i, status, m, err)
		}
		status, m := r.login(t, a, uid)
		if status != 403 || m["code"] != "account_disabled" {
			t.Fatalf("trial %d: login on A right after the disable on B: %d %v (want 403 account_disabled)", i, status, m)
		}
	}
}
