package datakeys

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/crypto/secrets"
)

// What a master-key rotation (internal/crypto/rotation) needs of the
// buckets' format: every entry of both buckets — data keys, the server's
// own keys, retired master keys — is raw key bytes sealed under the
// master key, bound to the entry's name.

// Retire stores the outgoing master key (old is its bytes) sealed under
// the incoming one, next, before anything is re-sealed: from then on a
// keyring opened with next alone opens every entry, re-sealed yet or not.
// Retiring again under the same next key is a no-op; retiring under
// another one while the first rotation is unfinished is refused.
func Retire(ctx context.Context, kv jetstream.KeyValue, old []byte, next *secrets.Box) error {
	name := retiredPrefix + secrets.KeyID(old)
	e, err := kv.Get(ctx, name)
	switch {
	case err == nil:
		raw, err := next.Open(string(e.Value()), aad(name))
		if err != nil || subtle.ConstantTimeCompare(raw, old) != 1 {
			return fmt.Errorf("datakeys: master key %s was already retired under another key: finish that rotation with its new key", secrets.KeyID(old))
		}
		return nil
	case !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyDeleted):
		return fmt.Errorf("datakeys: %s: %w", name, err)
	}
	sealed, err := next.Seal(old, aad(name))
	if err != nil {
		return err
	}
	if _, err := kv.Create(ctx, name, []byte(sealed)); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return Retire(ctx, kv, old, next) // a concurrent run: check what it wrote
		}
		return fmt.Errorf("datakeys: %s: %w", name, err)
	}
	return nil
}

// Reseal returns an entry's value sealed under next, opening it with open
// (the outgoing key and every retired one); nil when next alone opens it
// already (re-sealed by an earlier, interrupted run).
func Reseal(open, next *secrets.Box, name string, value []byte) ([]byte, error) {
	if _, err := next.Open(string(value), aad(name)); err == nil {
		return nil, nil
	}
	raw, err := open.Open(string(value), aad(name))
	if err != nil {
		return nil, fmt.Errorf("datakeys: %s opens under neither master key: %w", name, err)
	}
	defer clear(raw)
	sealed, err := next.Seal(raw, aad(name))
	if err != nil {
		return nil, err
	}
	return []byte(sealed), nil
}

// Opens reports whether b opens an entry's value.
func Opens(b *secrets.Box, name string, value []byte) bool {
	_, err := b.Open(string(value), aad(name))
	return err == nil
}

// IsRetired reports whether an entry keeps a retired master key.
func IsRetired(name string) bool { return strings.HasPrefix(name, retiredPrefix) }
