package datakeys_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/devtools/natstest"
)

// Two replicas preparing overlapping batches at once, one of whose keys
// the other made already, end with one key per owner: whatever either
// seals, the other opens.
func TestPrepareBatchesAgreeAcrossReplicas(t *testing.T) {
	ns := natstest.Server(t, t.TempDir())
	js, _ := jetstream.New(natstest.Connect(t, ns.ClientURL()))
	js2, _ := jetstream.New(natstest.Connect(t, ns.ClientURL()))
	a, b := open(t, js, box(t, 1)), open(t, js2, box(t, 1))

	if err := b.Prepare(context.Background(), []string{"account.acc-0"}); err != nil {
		t.Fatal(err)
	}
	first, second := make([]string, 300), make([]string, 300)
	for i := range first {
		first[i] = fmt.Sprintf("account.acc-%d", i)      // 0..299
		second[i] = fmt.Sprintf("account.acc-%d", i+150) // 150..449
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = a.Prepare(context.Background(), first) })
	wg.Go(func() { errs[1] = b.Prepare(context.Background(), second) })
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("prepare: %v", errs)
	}
	for i := range 450 {
		owner := fmt.Sprintf("account.acc-%d", i)
		for _, pair := range [][2]interface {
			Seal(string, []byte) (string, error)
			Open(string) ([]byte, error)
		}{{a, b}, {b, a}} {
			tok, err := pair[0].Seal(owner, []byte(owner))
			if err != nil {
				t.Fatalf("seal %s: %v", owner, err)
			}
			if pt, err := pair[1].Open(tok); err != nil || string(pt) != owner {
				t.Fatalf("%s sealed by one replica does not open on the other: %q %v", owner, pt, err)
			}
		}
	}
}

// Prepare ends with its caller's context (a request past its deadline),
// not only with the Keyring's own timeout; what it could not make, a
// later Prepare makes.
func TestPrepareEndsWithItsContext(t *testing.T) {
	ns := natstest.Server(t, t.TempDir())
	js, _ := jetstream.New(natstest.Connect(t, ns.ClientURL()))
	k := open(t, js, box(t, 1))

	ended, cancel := context.WithCancel(context.Background())
	cancel()
	// One owner: its key is read, then created, under the context. (A
	// batch's creates are sent at once and may all be acknowledged before
	// the ended context is noticed; then the work is done, and no error
	// is right.)
	owners := []string{"account.one"}
	if err := k.Prepare(ended, owners); err == nil {
		t.Errorf("Prepare(%v) with an ended context: no error", owners)
	}
	if err := k.Prepare(context.Background(), owners); err != nil {
		t.Fatalf("Prepare(%v) afterwards: %v", owners, err)
	}
}
