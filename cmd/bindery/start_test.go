package main_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// A replica started before its NATS server waits for it (cmd/bindery's
// startServer) and becomes ready once it is up, instead of exiting: the
// processes of a deployment start in any order.
func TestServeWaitsForNATS(t *testing.T) {
	bin := buildBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"BINDERY_HTTP_ADDR="+addr, "BINDERY_DATA_DIR="+t.TempDir(), "BINDERY_NATS_URL=nats://127.0.0.1:"+strconv.Itoa(port),
		"BINDERY_ADMIN_TOKEN="+adminToken, "BINDERY_MASTER_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	logs := &testenv.SyncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the process ended, with waitErr set
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

	// until polls cond while the process runs, for at most d.
	until := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			select {
			case <-exited:
				t.Fatalf("bindery exited before %s: %v\n%s", what, waitErr, logs)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("not %s within %s:\n%s", what, d, logs)
			}
		}
	}
	// It tries, and says it waits.
	until(30*time.Second, "waiting for NATS in its log", func() bool { return strings.Contains(logs.String(), "waiting for NATS JetStream") })
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	until(60*time.Second, "ready once NATS was up", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
