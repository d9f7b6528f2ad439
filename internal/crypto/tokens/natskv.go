package tokens

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// KeyBucket is the NATS KV bucket holding the sealed signing-key set.
const KeyBucket = "BINDERY_KEYS"

// keySetKey is the one key of KeyBucket: the whole set is swapped at once.
const keySetKey = "signing"

// KVKeyStore is the KeyStore every replica shares: one entry in a NATS KV
// bucket, written with compare-and-swap on the entry's revision.
type KVKeyStore struct {
	kv jetstream.KeyValue
}

var _ KeyStore = (*KVKeyStore)(nil)

// NewKVKeyStore creates (or opens) the key bucket with the given replicas.
func NewKVKeyStore(ctx context.Context, js jetstream.JetStream, replicas int) (*KVKeyStore, error) {
	if replicas <= 0 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      KeyBucket,
		Description: "Bindery id_token signing keys, sealed under the master key",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("tokens: key bucket %s: %w", KeyBucket, err)
	}
	return &KVKeyStore{kv: kv}, nil
}

// Load implements KeyStore.
func (s *KVKeyStore) Load(ctx context.Context) ([]byte, uint64, error) {
	e, err := s.kv.Get(ctx, keySetKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, ErrNoKeys
	}
	if err != nil {
		return nil, 0, err
	}
	return e.Value(), e.Revision(), nil
}

// Save implements KeyStore: revision 0 creates the entry (only when there is
// none, or it was deleted), any other revision updates it if it is still
// the stored one.
func (s *KVKeyStore) Save(ctx context.Context, data []byte, revision uint64) error {
	var err error
	if revision == 0 {
		_, err = s.kv.Create(ctx, keySetKey, data)
	} else {
		_, err = s.kv.Update(ctx, keySetKey, data, revision)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return ErrRevisionMismatch
	}
	return err
}
