package main_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/crypto/hostcode"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

// hostReplicas are two bindery processes sharing one NATS server, with a
// host-kind app "portal" whose logins match accounts by external_id: the
// setting of the tests that decide on one replica and act on the other.
type hostReplicas struct {
	a, b *proc
}

const portalSecret = "host-app-secret-0123456789abcdef"

func startHostReplicas(t *testing.T) *hostReplicas {
	t.Helper()
	bin := buildBinary(t)
	ns := natstest.Server(t, "")
	nats := "BINDERY_NATS_URL=" + ns.ClientURL()
	r := &hostReplicas{
		a: start(t, bin, t.TempDir(), freeAddr(t), nats),
		b: start(t, bin, t.TempDir(), freeAddr(t), nats),
	}
	mustCall(t, "PUT", "http://"+r.a.addr+"/v1/apps/portal", `{"name":"Portal","kind":"host","host":{"secret":"`+portalSecret+`"},"match_rules":["external_id"],"on_no_match":"bind"}`, 0)
	return r
}

// login logs the host user uid in on p with a fresh host code.
func (r *hostReplicas) login(t *testing.T, p *proc, uid string) (int, map[string]any) {
	t.Helper()
	code := hostcode.Mint([]byte(portalSecret), uid, time.Now().Add(2*time.Minute), hostcode.NewNonce())
	status, m, err := call("POST", "http://"+p.addr+"/v1/apps/portal/login/code", fmt.Sprintf(`{"code":%q}`, code))
	if err != nil {
		t.Fatal(err)
	}
	return status, m
}

// loginOK logs uid in on p, retrying while p's views do not hold the
// account yet (it may have been created on the other replica just now).
func (r *hostReplicas) loginOK(t *testing.T, p *proc, uid string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, m := r.login(t, p, uid)
		if status == 200 && m["status"] == "OK" {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("login of %s on %s: %d %v", uid, p.addr, status, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
