package tokens

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bindery/bindery/internal/crypto/secrets"
	jose "github.com/go-jose/go-jose/v4"
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

// Key is one signing key: an ES256 (P-256) key identified by its RFC 7638
// thumbprint.
type Key struct {
	ID      string // RFC 7638 SHA-256 thumbprint, base64url
	Private *ecdsa.PrivateKey
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

// algES256 is the one algorithm Bindery signs with and accepts.
const algES256 = string(jose.ES256)

// newKey generates a P-256 key created at now.
func newKey(now time.Time) (Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("tokens: generate key: %w", err)
	}
	kid, err := thumbprint(&priv.PublicKey)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: kid, Private: priv, Created: now.UTC()}, nil
}

func thumbprint(pub *ecdsa.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("tokens: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

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
		der, err := x509.MarshalPKCS8PrivateKey(k.Private)
		if err != nil {
			return nil, fmt.Errorf("tokens: encode key %s: %w", k.ID, err)
		}
		sealed, err := box.Seal(der, sealAAD)
		clear(der)
		if err != nil {
			return nil, fmt.Errorf("tokens: seal key %s: %w", k.ID, err)
		}
		sk := storedKey{ID: k.ID, Alg: algES256, Created: k.Created, Sealed: sealed}
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
		if sk.Alg != algES256 {
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
		priv, ok := parsed.(*ecdsa.PrivateKey)
		if !ok || priv.Curve != elliptic.P256() {
			return nil, fmt.Errorf("tokens: key %s is not a P-256 key", sk.ID)
		}
		// The kid is derived from the key, so a record cannot claim another's id.
		kid, err := thumbprint(&priv.PublicKey)
		if err != nil {
			return nil, err
		}
		if kid != sk.ID {
			return nil, fmt.Errorf("tokens: key %s: stored id does not match its thumbprint", sk.ID)
		}
		k := Key{ID: kid, Private: priv, Created: sk.Created}
		if sk.Retired != nil {
			k.Retired = *sk.Retired
		}
		keys = append(keys, k)
	}
	return keys, nil
}
