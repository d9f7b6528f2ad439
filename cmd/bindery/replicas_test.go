package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/crypto/hostcode"
)

// Two bindery processes share one NATS server: the first one's embedded
// server, which the second reaches as the NATS user bindery with the
// password the first generated (BINDERY_NATS_URL=nats://bindery:…@…). A PC
// long-polls a QR login on the first, the mini-program user scans and
// confirms on the second, and the PC's waiting request returns the tokens.
func TestQRAcrossTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dirA, natsAddr := t.TempDir(), freeAddr(t)
	a := start(t, bin, dirA, freeAddr(t), "BINDERY_NATS_LISTEN="+natsAddr)
	pw, err := os.ReadFile(filepath.Join(dirA, "nats-bindery.password"))
	if err != nil {
		t.Fatal(err)
	}
	// Without the password the second one does not start.
	if out, err := exec.Command(bin, "serve", "-data-dir", t.TempDir(), "-http-addr", freeAddr(t), "-admin-token", adminToken,
		"-nats-url", "nats://"+natsAddr, "-master-key", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").CombinedOutput(); err == nil || !strings.Contains(string(out), "Authorization Violation") {
		t.Fatalf("anonymous replica: %v %s", err, out)
	}
	b := start(t, bin, t.TempDir(), freeAddr(t), "BINDERY_NATS_URL=nats://bindery:"+strings.TrimSpace(string(pw))+"@"+natsAddr)

	// A host app and an account it logs into (external_id = the host uid).
	const secret = "host-app-secret-0123456789abcdef"
	mustCall(t, "PUT", "http://"+a.addr+"/v1/apps/portal", `{"name":"Portal","kind":"host","host":{"secret":"`+secret+`"},"match_rules":["external_id"],"on_no_match":"bind"}`, 0)
	mustCall(t, "POST", "http://"+a.addr+"/v1/accounts", `{"external_id":"u-42","display_name":"Grace"}`, 201)

	// The phone logs in on B (B's view may lag A's writes: retry briefly).
	var idToken string
	deadline := time.Now().Add(10 * time.Second)
	for idToken == "" {
		code := hostcode.Mint([]byte(secret), "u-42", time.Now().Add(2*time.Minute), hostcode.NewNonce())
		status, m, err := call("POST", "http://"+b.addr+"/v1/apps/portal/login/code", fmt.Sprintf(`{"code":%q}`, code))
		if err != nil {
			t.Fatal(err)
		}
		if status == 200 && m["status"] == "OK" {
			idToken, _ = m["id_token"].(string)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login on B: %d %v", status, m)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The PC starts a QR login on A and waits there.
	qr := mustCall(t, "POST", "http://"+a.addr+"/v1/apps/portal/qr", `{}`, 201)
	id, poll := qr["qr_id"].(string), qr["poll_token"].(string)
	type answer struct {
		m   map[string]any
		err error
		at  time.Time
	}
	got := make(chan answer, 1)
	go func() {
		for {
			req, _ := http.NewRequest("GET", "http://"+a.addr+"/v1/qr/"+id+"?wait=25", nil)
			req.Header.Set("X-Poll-Token", poll)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				got <- answer{err: err}
				return
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var m map[string]any
			_ = json.Unmarshal(data, &m)
			if resp.StatusCode != 200 || m["state"] == "CONSUMED" || m["id_token"] != nil {
				got <- answer{m: m, at: time.Now()}
				return
			}
		}
	}()

	// The phone scans and confirms on B.
	user := func(path string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			req, _ := http.NewRequest("POST", "http://"+b.addr+path, strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Bearer "+idToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var m map[string]any
			_ = json.Unmarshal(data, &m)
			if resp.StatusCode == 200 {
				return m
			}
			// B may not have applied A's qr_created yet.
			if resp.StatusCode != 404 || time.Now().After(deadline) {
				t.Fatalf("%s on B: %d %s", path, resp.StatusCode, data)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	scan := user("/v1/qr/" + id + "/scan")
	if req, ok := scan["requester"].(map[string]any); !ok || req["ip"] == "" {
		t.Fatalf("scan answer %v", scan)
	}
	user("/v1/qr/" + id + "/confirm")
	confirmed := time.Now()

	select {
	case ans := <-got:
		if ans.err != nil {
			t.Fatal(ans.err)
		}
		if ans.m["id_token"] == nil || ans.m["session_token"] == nil {
			t.Fatalf("PC on A got no tokens: %v", ans.m)
		}
		t.Logf("PC's long-poll on A returned %s after the confirmation on B", ans.at.Sub(confirmed).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("the PC's long-poll on A never saw the confirmation made on B")
	}
}

func mustCall(t *testing.T, method, url, body string, want int) map[string]any {
	t.Helper()
	status, m, err := call(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if want != 0 && status != want || status >= 300 {
		t.Fatalf("%s %s: %d %v", method, url, status, m)
	}
	return m
}
