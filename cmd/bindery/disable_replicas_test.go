package main_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/crypto/hostcode"
	"github.com/bindery/bindery/internal/devtools/natstest"
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
	bin := buildBinary(t)
	ns := natstest.Server(t, "")
	nats := "BINDERY_NATS_URL=" + ns.ClientURL()
	a := start(t, bin, t.TempDir(), freeAddr(t), nats)
	b := start(t, bin, t.TempDir(), freeAddr(t), nats)

	const secret = "host-app-secret-0123456789abcdef"
	mustCall(t, "PUT", "http://"+a.addr+"/v1/apps/portal", `{"name":"Portal","kind":"host","host":{"secret":"`+secret+`"},"match_rules":["external_id"],"on_no_match":"bind"}`, 0)

	loginOnA := func(uid string) (int, map[string]any) {
		t.Helper()
		code := hostcode.Mint([]byte(secret), uid, time.Now().Add(2*time.Minute), hostcode.NewNonce())
		status, m, err := call("POST", "http://"+a.addr+"/v1/apps/portal/login/code", fmt.Sprintf(`{"code":%q}`, code))
		if err != nil {
			t.Fatal(err)
		}
		return status, m
	}

	const trials = 20
	for i := range trials {
		uid := fmt.Sprintf("u-%d", i)
		acc := mustCall(t, "POST", "http://"+a.addr+"/v1/accounts", `{"external_id":"`+uid+`","display_name":"Ada"}`, 201)
		id := acc["id"].(string)
		// A's views may not hold the new account for a moment.
		deadline := time.Now().Add(10 * time.Second)
		for {
			status, m := loginOnA(uid)
			if status == 200 && m["status"] == "OK" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("trial %d: login on A: %d %v", i, status, m)
			}
			time.Sleep(20 * time.Millisecond)
		}

		if status, m, err := call("DELETE", "http://"+b.addr+"/v1/accounts/"+id, ""); err != nil || status >= 300 {
			t.Fatalf("trial %d: disable on B: %d %v %v", i, status, m, err)
		}
		status, m := loginOnA(uid)
		if status != 403 || m["code"] != "account_disabled" {
			t.Fatalf("trial %d: login on A right after the disable on B: %d %v (want 403 account_disabled)", i, status, m)
		}
	}
}
