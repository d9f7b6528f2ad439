package tokens

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/devtools/natstest"
)

func kvStore(t *testing.T) (*KVKeyStore, jetstream.JetStream) {
	t.Helper()
	ns := natstest.Server(t, "")
	js, err := jetstream.New(natstest.Connect(t, ns.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := NewKVKeyStore(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	return s, js
}

// The KV store keeps the KeyStore contract: rev 0 creates only, a stale
// revision is a mismatch, a deleted entry reads as empty and can be created
// again.
func TestKVKeyStoreCAS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, js := kvStore(t)
	if _, _, err := s.Load(ctx); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("empty Load: %v", err)
	}
	if err := s.Save(ctx, []byte("a"), 7); !errors.Is(err, ErrRevisionMismatch) {
		t.Fatalf("Save rev 7 on empty: %v", err)
	}
	if err := s.Save(ctx, []byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, []byte("b"), 0); !errors.Is(err, ErrRevisionMismatch) {
		t.Fatalf("create twice: %v", err)
	}
	data, rev, err := s.Load(ctx)
	if err != nil || string(data) != "a" || rev == 0 {
		t.Fatalf("Load = %q, %d, %v", data, rev, err)
	}
	if err := s.Save(ctx, []byte("b"), rev); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, []byte("c"), rev); !errors.Is(err, ErrRevisionMismatch) {
		t.Fatalf("stale update: %v", err)
	}
	kv, err := js.KeyValue(ctx, KeyBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, keySetKey); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(ctx); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("Load after delete: %v", err)
	}
	if err := s.Save(ctx, []byte("d"), 0); err != nil {
		t.Fatalf("create after delete: %v", err)
	}
	if data, _, err := s.Load(ctx); err != nil || string(data) != "d" {
		t.Fatalf("Load = %q, %v", data, err)
	}
}

// Replicas sharing the bucket converge on one key, and a rotation by one is
// picked up by another's Refresh.
func TestKVSignersShareKeys(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clk := &clock{now: time.Now()}
	box := newBox(t)
	s, _ := kvStore(t)
	const n = 4
	signers := make([]*Signer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			signers[i], errs[i] = NewSigner(ctx, s, box, SignerOptions{Issuer: testIssuer, Now: clk.Now})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("signer %d: %v", i, errs[i])
		}
		if signers[i].ActiveKeyID() != signers[0].ActiveKeyID() {
			t.Fatalf("signer %d uses another key", i)
		}
	}
	if err := signers[0].Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	tok, err := signers[0].Sign(claimsAt(clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signers[1].Verify(tok, "demo", clk.Now()); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("before refresh: %v", err)
	}
	if err := signers[1].Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := signers[1].Verify(tok, "demo", clk.Now()); err != nil {
		t.Fatalf("after refresh: %v", err)
	}
}
