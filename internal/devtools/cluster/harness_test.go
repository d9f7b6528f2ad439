package cluster_test

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/cluster"
)

// A node that dies without the harness killing it (as one that cannot
// bind its port does) ends WaitHealthy at once with the node's name, not
// at the caller's deadline.
func TestWaitHealthyNamesANodeThatExited(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, err := cluster.NewNATS(ctx, t.TempDir(), cluster.NATSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := syscall.Kill(ns.Pid(1), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Without the check it would poll until ctx ends and answer "nodes not
	// healthy", naming no node.
	if err = ns.WaitHealthy(ctx); err == nil || !strings.Contains(err.Error(), "exited: "+ns.Name(1)) {
		t.Fatalf("WaitHealthy with %s dead: %v", ns.Name(1), err)
	}
}
