package tokens

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bindery/bindery/internal/crypto/secrets"
)

// Errors of a KeyStore.
var (
	// ErrNoKeys reports that the store holds no key set yet.
	ErrNoKeys = errors.New("tokens: no signing keys stored")
	// ErrRevisionMismatch reports a lost compare-and-swap: the stored key set
	// changed since it was loaded.
	ErrRevisionMismatch = errors.New("tokens: key set revision mismatch")
)

// KeyStore persists the sealed key set. The caller implements it over NATS
// KV (Create for revision 0, Update otherwise); tests use NewMemoryKeyStore.
type KeyStore interface {
	// Load returns the stored data and its revision, or ErrNoKeys when empty.
	Load(ctx context.Context) (data []byte, revision uint64, err error)
	// Save stores data if the stored revision is still revision (0: only if
	// nothing is stored), else returns ErrRevisionMismatch.
	Save(ctx context.Context, data []byte, revision uint64) error
}

// MemoryKeyStore is an in-memory KeyStore for tests and single-process use.
type MemoryKeyStore struct {
	mu   sync.Mutex
	data []byte
	rev  uint64
}

// NewMemoryKeyStore returns an empty MemoryKeyStore.
func NewMemoryKeyStore() *MemoryKeyStore { return &MemoryKeyStore{} }

// Load implements KeyStore.
func (m *MemoryKeyStore) Load(context.Context) ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rev == 0 {
		return nil, 0, ErrNoKeys
	}
	return append([]byte(nil), m.data...), m.rev, nil
}

// Save implements KeyStore.
func (m *MemoryKeyStore) Save(_ context.Context, data []byte, revision uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if revision != m.rev {
		return ErrRevisionMismatch
	}
	m.data = append([]byte(nil), data...)
	m.rev++
	return nil
}

// Key is one signing key, identified by its RFC 7638 thumbprint: an
// Ed25519 key (Alg EdDSA) or a P-256 key (Alg ES256).
type Key struct {
	ID      string             // RFC 7638 SHA-256 thumbprint, base64url
	Alg     string             // AlgEdDSA or AlgES256
	Private *ecdsa.PrivateKey  // the ES256 key
	Ed25519 ed25519.PrivateKey // the EdDSA key
	Created time.Time
	Retired time.Time // zero while the key is the active one
}

// Active reports whether k signs new tokens.
func (k Key) Active() bool { return k.Retired.IsZero() }

// publishedAt reports whether k is still published (and accepted) at now:
// active, or retired less than overlap ago.
func (k Key) publishedAt(now time.Time, overlap time.Duration) bool {
	return k.Active() || now.Before(k.Retired.Add(overlap))
}

// sealAAD binds sealed signing keys to their purpose.
const sealAAD = "signing-key"

// storedSet is the persisted form of the key set. Private keys are PKCS#8
// DER sealed under the master key; nothing else in it is secret.
type storedSet struct {
	Version int         `json:"version"`
	Keys    []storedKey `json:"keys"`
}

type storedKey struct {
	ID      string     `json:"kid"`
	Alg     string     `json:"alg"`
	Created time.Time  `json:"created"`
	Retired *time.Time `json:"retired,omitempty"`
	Sealed  string     `json:"private_sealed"`
}

const storedVersion = 1

func encodeSet(keys []Key, box *secrets.Box) ([]byte, error) {
	set := storedSet{Version: storedVersion, Keys: make([]storedKey, 0, len(keys))}
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.private())
		if err != nil {
			return nil, fmt.Errorf("tokens: encode key %s: %w", k.ID, err)
		}
		sealed, err := box.Seal(der, sealAAD)
		clear(der)
		if err != nil {
			return nil, fmt.Errorf("tokens: seal key %s: %w", k.ID, err)
		}
		sk := storedKey{ID: k.ID, Alg: k.Alg, Created: k.Created, Sealed: sealed}
		if !k.Retired.IsZero() {
			r := k.Retired
			sk.Retired = &r
		}
		set.Keys = append(set.Keys, sk)
	}
	return json.Marshal(set)
}

func decodeSet(data []byte, box *secrets.Box) ([]Key, error) {
	var set storedSet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("tokens: decode key set: %w", err)
	}
	if set.Version != storedVersion {
		return nil, fmt.Errorf("tokens: key set version %d not supported", set.Version)
	}
	keys := make([]Key, 0, len(set.Keys))
	for _, sk := range set.Keys {
		if !knownAlg(sk.Alg) {
			return nil, fmt.Errorf("tokens: key %s: algorithm %q not supported", sk.ID, sk.Alg)
		}
		der, err := box.Open(sk.Sealed, sealAAD)
		if err != nil {
			return nil, fmt.Errorf("tokens: open key %s: %w", sk.ID, err)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(der)
		clear(der)
		if err != nil {
			return nil, fmt.Errorf("tokens: parse key %s: %w", sk.ID, err)
		}
		k := Key{Alg: sk.Alg, Created: sk.Created}
		switch priv := parsed.(type) {
		case *ecdsa.PrivateKey:
			if sk.Alg != AlgES256 || priv.Curve != elliptic.P256() {
				return nil, fmt.Errorf("tokens: key %s is not a P-256 key", sk.ID)
			}
			k.Private = priv
		case ed25519.PrivateKey:
			if sk.Alg != AlgEdDSA {
				return nil, fmt.Errorf("tokens: key %s is not an %s key", sk.ID, sk.Alg)
			}
			k.Ed25519 = priv
		default:
			return nil, fmt.Errorf("tokens: key %s: unsupported key type", sk.ID)
		}
		// The kid is derived from the key, so a record cannot claim another's id.
		kid, err := thumbprint(k.Public())
		if err != nil {
			return nil, err
		}
		if kid != sk.ID {
			return nil, fmt.Errorf("tokens: key %s: stored id does not match its thumbprint", sk.ID)
		}
		k.ID = kid
		if sk.Retired != nil {
			k.Retired = *sk.Retired
		}
		keys = append(keys, k)
	}
	return keys, nil
}
