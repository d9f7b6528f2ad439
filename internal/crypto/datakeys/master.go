package datakeys

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/crypto/secrets"
)

// retiredPrefix names the entries that keep a rotated-out master key,
// sealed under the current one: what was sealed under it before the
// rotation (secrets in the history, which is never rewritten) still opens.
const retiredPrefix = "retired."

// masterKeys is the current master key and the retired ones.
type masterKeys struct {
	mu      sync.RWMutex
	cur     *secrets.Box
	retired []*secrets.Box
}

func newMasterKeys(cur *secrets.Box) *masterKeys { return &masterKeys{cur: cur} }

func (m *masterKeys) current() *secrets.Box {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cur
}

// open opens a value sealed under the current master key or a retired one.
func (m *masterKeys) open(sealed, aad string) ([]byte, error) {
	m.mu.RLock()
	boxes := append([]*secrets.Box{m.cur}, m.retired...)
	m.mu.RUnlock()
	var err error
	for _, b := range boxes {
		var pt []byte
		if pt, err = b.Open(sealed, aad); err == nil {
			return pt, nil
		}
	}
	return nil, err
}

// loadRetired reads the retired master keys (sealed under the current one).
func (k *Keyring) loadRetired(ctx context.Context) error {
	kv := k.buckets[Bucket]
	lister, err := kv.ListKeysFiltered(ctx, retiredPrefix+">")
	if err != nil {
		return fmt.Errorf("datakeys: retired master keys: %w", err)
	}
	var names []string
	for n := range lister.Keys() {
		names = append(names, n)
	}
	var boxes []*secrets.Box
	for _, n := range names {
		e, err := kv.Get(ctx, n)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return fmt.Errorf("datakeys: retired master key %s: %w", n, err)
		}
		raw, err := k.master.current().Open(string(e.Value()), aad(n))
		if err != nil {
			// Sealed under a key this process does not have: a rotation
			// to another key is under way or the key given is wrong.
			return fmt.Errorf("datakeys: retired master key %s does not open under this master key: %w", n, err)
		}
		b, err := secrets.NewBox(raw)
		if err != nil {
			return err
		}
		boxes = append(boxes, b)
	}
	k.master.mu.Lock()
	k.master.retired = boxes
	k.master.mu.Unlock()
	return nil
}

// Retired are the retired master keys, for opening secrets sealed under
// them (app, webhook and client secrets in the history).
func (k *Keyring) Retired() []*secrets.Box {
	k.master.mu.RLock()
	defer k.master.mu.RUnlock()
	return append([]*secrets.Box(nil), k.master.retired...)
}

// ServerSecret is a random 32-byte key of the server's own, named name
// (the index key that keyed hashes use, the snapshot key), created on
// first use and kept sealed like a data key: rotating the master key
// re-seals it and leaves it the same, so keyed hashes stay stable.
func (k *Keyring) ServerSecret(ctx context.Context, name string) ([]byte, error) {
	owner := "server." + name
	kv := k.buckets[Bucket]
	for range 3 {
		e, err := kv.Get(ctx, owner)
		if err == nil {
			return k.master.open(string(e.Value()), aad(owner))
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyDeleted) {
			return nil, fmt.Errorf("datakeys: %s: %w", owner, err)
		}
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		sealed, err := k.master.current().Seal(raw, aad(owner))
		if err != nil {
			return nil, err
		}
		if _, err := kv.Create(ctx, owner, []byte(sealed)); err == nil {
			return raw, nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("datakeys: %s: %w", owner, err)
		}
	}
	return nil, fmt.Errorf("datakeys: %s: kept conflicting", owner)
}

// MasterKeyID is a short public fingerprint of a master key.
func MasterKeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("bindery master key id"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}
