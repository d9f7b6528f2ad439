package datakeys_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/datakeys"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

func box(t *testing.T, b byte) *secrets.Box {
	t.Helper()
	bx, err := secrets.NewBox(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return bx
}

func open(t *testing.T, js jetstream.JetStream, master *secrets.Box) *datakeys.Keyring {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k, err := datakeys.Open(ctx, js, master, datakeys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

// Keys are created once, shared by replicas, and erasing one leaves no
// revision of it: its values no longer open on any replica, and the key's
// bytes are gone from the bucket's files.
func TestKeyringSealOpenErase(t *testing.T) {
	dir := t.TempDir()
	ns := natstest.Server(t, dir)
	js, _ := jetstream.New(natstest.Connect(t, ns.ClientURL()))
	js2, _ := jetstream.New(natstest.Connect(t, ns.ClientURL()))
	a, b := open(t, js, box(t, 1)), open(t, js2, box(t, 1))

	owners := make([]string, 50)
	for i := range owners {
		owners[i] = fmt.Sprintf("account.acc-%d", i)
	}
	if err := a.Prepare(context.Background(), owners); err != nil {
		t.Fatal(err)
	}
	tok, err := a.Seal("account.acc-7", []byte(`"+8613900001111"`))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains([]byte(tok), []byte("8613900001111")) || datakeys.OwnerOf(tok) != "account.acc-7" {
		t.Fatalf("token %s", tok)
	}
	pt, err := b.Open(tok) // another replica opens it
	if err != nil || string(pt) != `"+8613900001111"` {
		t.Fatalf("open on b: %s %v", pt, err)
	}
	// A value sealed for another owner does not open as this one's.
	other, _ := a.Seal("account.acc-8", []byte("x"))
	forged := "v1:account.acc-7:" + other[len("v1:account.acc-8:"):]
	if _, err := a.Open(forged); err == nil {
		t.Fatal("a value of acc-8 opened as acc-7's")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Erase(ctx, "account.acc-7"); err != nil {
		t.Fatal(err)
	}
	if err := a.Erase(ctx, "account.acc-7"); err != nil {
		t.Fatalf("erase twice: %v", err)
	}
	if _, err := a.Open(tok); !errors.Is(err, events.ErrErased) {
		t.Fatalf("open after erase on a: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := b.Open(tok)
		if errors.Is(err, events.ErrErased) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b still opens an erased value: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if gone, err := a.Erased(ctx, "account.acc-7"); err != nil || !gone {
		t.Fatalf("erased: %v %v", gone, err)
	}
	if gone, _ := a.Erased(ctx, "account.acc-8"); gone {
		t.Fatal("acc-8 counted as erased")
	}
	if _, err := a.Open(other); err != nil {
		t.Fatalf("acc-8 after acc-7's erasure: %v", err)
	}
	// A fresh process with the same master key opens what is left.
	c := open(t, js, box(t, 1))
	if _, err := c.Open(other); err != nil {
		t.Fatalf("fresh keyring: %v", err)
	}
	if _, err := c.Open(tok); !errors.Is(err, events.ErrErased) {
		t.Fatalf("fresh keyring opens an erased value: %v", err)
	}
	// A wrong master key opens nothing.
	wrong := open(t, js, box(t, 2))
	if _, err := wrong.Open(other); err == nil || errors.Is(err, events.ErrErased) {
		t.Fatalf("wrong master key: %v", err)
	}
}
