package datakeys

import (
	"context"
	"crypto/rand"
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

// loadRetired reads the retired master keys. Each is sealed under the
// current key or, while a rotation is under way or after one was cut
// short, under a key retired later (RetiredKeys): either way it opens.
func (k *Keyring) loadRetired(ctx context.Context) error {
	cur := k.master.current()
	boxes, err := RetiredKeys(ctx, k.buckets[Bucket], cur)
	if err != nil {
		return err
	}
	k.master.mu.Lock()
	k.master.retired = boxes
	k.master.mu.Unlock()
	return nil
}

// RetiredKeys opens the retired master keys of the bucket with the keys
// known (the current one first) and with each retired key opened so far,
// until no more open: a rotation first stores the outgoing key under the
// incoming one and only then re-seals the keys retired before, so for a
// while those open only through the outgoing key. A retired key that
// opens under none of them is an error: the key given is not this data's.
func RetiredKeys(ctx context.Context, kv jetstream.KeyValue, known ...*secrets.Box) ([]*secrets.Box, error) {
	lister, err := kv.ListKeysFiltered(ctx, retiredPrefix+">")
	if err != nil {
		return nil, fmt.Errorf("datakeys: retired master keys: %w", err)
	}
	sealed := map[string]string{}
	for n := range lister.Keys() {
		e, err := kv.Get(ctx, n)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("datakeys: retired master key %s: %w", n, err)
		}
		sealed[n] = string(e.Value())
	}
	var boxes []*secrets.Box
	opener := known
	for len(sealed) > 0 {
		opened := 0
		for n, v := range sealed {
			raw, err := openWith(opener, v, aad(n))
			if err != nil {
				continue
			}
			b, err := secrets.NewBox(raw)
			if err != nil {
				return nil, fmt.Errorf("datakeys: retired master key %s: %w", n, err)
			}
			boxes, opener = append(boxes, b), append(opener, b)
			delete(sealed, n)
			opened++
		}
		if opened == 0 {
			break
		}
	}
	for n := range sealed {
		if len(known) > 0 && n == RetiredName(known[0]) {
			return nil, fmt.Errorf("datakeys: this master key (%s) was rotated out: start with the new key, or finish the rotation (binderyctl keys rotate)", known[0].KeyID())
		}
		// Sealed under a key this process does not have: a rotation to
		// another key is under way, or the key given is wrong.
		return nil, fmt.Errorf("datakeys: retired master key %s does not open under this master key", n)
	}
	return boxes, nil
}

func openWith(boxes []*secrets.Box, sealed, aad string) ([]byte, error) {
	err := secrets.ErrTampered
	for _, b := range boxes {
		var pt []byte
		if pt, err = b.Open(sealed, aad); err == nil {
			return pt, nil
		}
	}
	return nil, err
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

// RetiredName is the entry that keeps the retired master key box seals.
func RetiredName(b *secrets.Box) string { return retiredPrefix + b.KeyID() }
