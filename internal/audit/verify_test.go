package audit_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/audit"
)

func TestUntouchedStoreVerifies(t *testing.T) {
	w := newWorld(t, "")
	w.mixed(30)
	sealed := w.sealNow()
	if len(sealed) != 2 {
		t.Fatalf("sealed %+v, want one checkpoint per stream", sealed)
	}
	w.mixed(10) // unsealed tail
	rep := w.verify()
	if !rep.OK || rep.FirstBad != nil {
		t.Fatalf("report %+v", rep)
	}
	if rep.Events != 160 || rep.Checkpoints != 2 || rep.Unsealed == 0 {
		t.Fatalf("report %+v: want 160 events, 2 checkpoints, an unsealed tail", rep)
	}
	// Sealing again covers the tail and chains to the first checkpoints;
	// sealing with nothing new stores nothing.
	if got := w.sealNow(); len(got) != 2 || got[0].FromSeq != sealed[0].ToSeq+1 {
		t.Fatalf("second seal %+v after %+v", got, sealed)
	}
	if got := w.sealNow(); len(got) != 0 {
		t.Fatalf("idle seal stored %+v", got)
	}
	rep = w.verify()
	if !rep.OK || rep.Unsealed != 0 || rep.Checkpoints != 4 {
		t.Fatalf("report %+v", rep)
	}
}

// Several sealers (replicas) racing never fork the chain.
func TestConcurrentSealersKeepOneChain(t *testing.T) {
	w := newWorld(t, "")
	var wg sync.WaitGroup
	for r := 0; r < 3; r++ {
		s := &audit.Sealer{JS: w.store.JetStream(), Keys: w.keys, Max: 7}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if _, err := s.Seal(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	w.mixed(40)
	wg.Wait()
	w.sealNow()
	rep := w.verify()
	if !rep.OK || rep.Unsealed != 0 {
		t.Fatalf("report %+v", rep)
	}
}

// A checkpoint names the one before it and is signed: one signed with a
// key the verifier does not trust fails.
func TestUntrustedKeyFails(t *testing.T) {
	w := newWorld(t, "")
	w.mixed(3)
	w.sealNow()
	other := newWorld(t, "")
	v := &audit.Verifier{JS: w.store.JetStream(), Keys: other.keys.Set()}
	rep, err := v.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.FirstBad.Reason != audit.ReasonBadSignature {
		t.Fatalf("report %+v", rep)
	}
	// The published keys (what binderyctl reads) are the world's own.
	keys, err := audit.LoadPublicKeys(context.Background(), w.store.JetStream())
	if err != nil || len(keys) != 1 || keys[w.keys.KeyID()] == nil {
		t.Fatalf("public keys %v, %v", keys, err)
	}
}

func checkpointAt(t *testing.T, w *world, kind string, seq uint64) audit.Checkpoint {
	t.Helper()
	st, err := w.store.JetStream().Stream(context.Background(), bjs.StreamName(kind))
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	var c audit.Checkpoint
	if err := json.Unmarshal(m.Data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckpointShape(t *testing.T) {
	w := newWorld(t, "")
	w.mixed(5)
	sealed := w.sealNow()
	c := checkpointAt(t, w, events.StreamHistory, sealed[0].Sequence)
	// 5 accounts × (created + updated) events + 5 username claims.
	if c.FromSeq != 1 || c.Count != 15 || c.PrevCheckpointSeq != 0 || c.KeyID != w.keys.KeyID() || c.Signature == "" || len(c.Digest) != 64 {
		t.Fatalf("checkpoint %+v", c)
	}
	w.mixed(1)
	next := w.sealNow()
	c2 := checkpointAt(t, w, events.StreamHistory, next[0].Sequence)
	if c2.PrevCheckpointSeq != sealed[0].Sequence || c2.FromSeq != c.ToSeq+1 || len(c2.Skip) != 1 || c2.Skip[0] != sealed[0].Sequence {
		t.Fatalf("second checkpoint %+v after %+v", c2, c)
	}
}
