package rotation_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/crypto/datakeys"
	"github.com/bindery/bindery/internal/crypto/rotation"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func keyring(t *testing.T, js jetstream.JetStream, k []byte) (*datakeys.Keyring, error) {
	t.Helper()
	b, _ := secrets.NewBox(k)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kr, err := datakeys.Open(ctx, js, b, datakeys.Options{})
	if err == nil {
		t.Cleanup(kr.Close)
	}
	return kr, err
}

// Two rotations in a row (k1 -> k2 -> k3): a keyring with k3 alone opens
// values sealed under data keys made under k1, and opens k1 itself
// through the chain of retired keys, for the history's secrets.
func TestRotateTwice(t *testing.T) {
	t.Parallel()
	ns := natstest.Server(t, "")
	js, _ := jetstream.New(natstest.Connect(t, ns.ClientURL()))
	ctx := context.Background()
	kr, err := keyring(t, js, key(1))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := kr.Seal("account.a", []byte("Ada"))
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := secrets.NewBox(key(1))
	history, _ := b1.Seal([]byte("app secret"), "app-secret:mini")
	kr.Close()
	if _, err := rotation.Rotate(ctx, js, key(1), key(1), rotation.Options{}); !errors.Is(err, rotation.ErrSameKey) {
		t.Fatalf("rotate to the same key: %v", err)
	}
	// A wrong old key is refused before anything is written.
	if rep, err := rotation.Rotate(ctx, js, key(9), key(2), rotation.Options{}); err == nil || rep.Retired || !strings.Contains(err.Error(), "not the master key") {
		t.Fatalf("rotate from a wrong key: %+v %v", rep, err)
	}
	kv, _ := js.KeyValue(ctx, datakeys.Bucket)
	b9, _ := secrets.NewBox(key(9))
	if _, err := kv.Get(ctx, datakeys.RetiredName(b9)); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("a refused rotation wrote the wrong key's retired entry: %v", err)
	}
	for _, step := range [][2]byte{{1, 2}, {2, 3}} {
		rep, err := rotation.Rotate(ctx, js, key(step[0]), key(step[1]), rotation.Options{})
		if err != nil || rep.Stopped || rep.Parts[0].Resealed == 0 {
			t.Fatalf("rotate %v: %+v %v", step, rep, err)
		}
	}
	if _, err := rotation.Rotate(ctx, js, key(3), key(1), rotation.Options{}); err == nil {
		t.Fatal("a rotation back to a retired key was accepted")
	}
	if _, err := keyring(t, js, key(2)); err == nil {
		t.Fatal("a keyring opened with a rotated-out key")
	}
	kr3, err := keyring(t, js, key(3))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := kr3.Open(tok); err != nil || string(pt) != "Ada" {
		t.Fatalf("open after two rotations: %q %v", pt, err)
	}
	b3, _ := secrets.NewBox(key(3))
	if pt, err := b3.WithRetired(kr3.Retired()...).Open(history, "app-secret:mini"); err != nil || string(pt) != "app secret" {
		t.Fatalf("a history secret sealed under k1, opened with k3: %q %v", pt, err)
	}
}

// A run that died between writing an entry's new revision and wiping the
// old one left two revisions: the next run wipes the old one. An entry
// erased while a run goes on stays erased.
func TestRotateSweepsAndKeepsErasures(t *testing.T) {
	t.Parallel()
	ns := natstest.Server(t, "")
	js, _ := jetstream.New(natstest.Connect(t, ns.ClientURL()))
	ctx := context.Background()
	kr, err := keyring(t, js, key(1))
	if err != nil {
		t.Fatal(err)
	}
	owners := make([]string, 40)
	for i := range owners {
		owners[i] = fmt.Sprintf("account.a%d", i)
	}
	if err := kr.Prepare(context.Background(), owners); err != nil {
		t.Fatal(err)
	}
	// Left behind by a dead run: two revisions of account.a0 (the bucket
	// keeps two while a run goes on), the newer under the new key.
	kv, _ := js.KeyValue(ctx, datakeys.Bucket)
	st, _ := js.Stream(ctx, "KV_"+datakeys.Bucket)
	cfg := st.CachedInfo().Config
	cfg.MaxMsgsPerSubject = 2
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	e, _ := kv.Get(ctx, "account.a0")
	b1, _ := secrets.NewBox(key(1))
	b2, _ := secrets.NewBox(key(2))
	resealed, err := datakeys.Reseal(b1, b2, "account.a0", e.Value())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "account.a0", resealed); err != nil {
		t.Fatal(err)
	}
	// Erase some while the rotation runs.
	erased := make(chan error, 1)
	progress := func(part string, done, total int) {
		if done == 5 && part == "data keys" {
			go func() { erased <- kr.Erase(ctx, "account.a39") }()
		}
	}
	rep, err := rotation.Rotate(ctx, js, key(1), key(2), rotation.Options{Progress: progress, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-erased; err != nil {
		t.Fatal(err)
	}
	dk := rep.Parts[0]
	if dk.Already != 2 || dk.Wiped < dk.Resealed+1 { // a0 and the retired key; a0's leftover
		t.Fatalf("data keys: %+v", dk)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("$KV."+datakeys.Bucket+".>"))
	if err != nil {
		t.Fatal(err)
	}
	for subj, n := range info.State.Subjects {
		if n != 1 {
			t.Fatalf("%s has %d revisions after the rotation", subj, n)
		}
	}
	if info.Config.MaxMsgsPerSubject != 1 {
		t.Fatalf("the bucket keeps %d revisions after the rotation", info.Config.MaxMsgsPerSubject)
	}
	if gone, err := kr.Erased(ctx, "account.a39"); err != nil || !gone {
		t.Fatalf("account.a39 after an erasure during the rotation: erased %v, %v", gone, err)
	}
}
