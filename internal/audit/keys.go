package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/crypto/secrets"
)

// KeyBucket is the KV bucket holding the checkpoint signing keys: each
// key's public half in the clear, its private half sealed under the master
// key, and which key signs now.
const KeyBucket = "bindery-audit"

const (
	currentKey = "seal.current"
	keyPrefix  = "seal.key."
)

// KeySet maps key ids to public keys.
type KeySet map[string]ed25519.PublicKey

// PublicKey is a published checkpoint key.
type PublicKey struct {
	KeyID     string    `json:"key_id"`
	Algorithm string    `json:"alg"`        // Ed25519
	Public    string    `json:"public_key"` // base64url, no padding (as in a JWK's x)
	CreatedAt time.Time `json:"created_at"`
}

// storedKey is a KV entry.
type storedKey struct {
	PublicKey
	PrivateSealed string `json:"private_sealed"`
}

// Keyring is the server's signing key plus every key that ever signed.
type Keyring struct {
	keyID   string
	private ed25519.PrivateKey
	public  []PublicKey
	set     KeySet
}

// KeyID names the key that signs now.
func (k *Keyring) KeyID() string { return k.keyID }

// Public lists every checkpoint key, the signing one first.
func (k *Keyring) Public() []PublicKey { return append([]PublicKey(nil), k.public...) }

// Set is the key set a verifier trusts: keys whose private half opens under
// this server's master key (a key planted in the bucket by someone without
// the master key is not trusted).
func (k *Keyring) Set() KeySet { return k.set }

func keyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

func keyAAD(id string) string { return "audit-seal-key:" + id }

func openBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, KeyBucket)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, err
	}
	if replicas == 0 {
		replicas = 1
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: KeyBucket, Description: "Bindery audit checkpoint keys", History: 1,
		Storage: jetstream.FileStorage, Replicas: replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.KeyValue(ctx, KeyBucket)
	}
	return kv, err
}

// OpenKeyring loads the signing key, making one on first use. Replicas
// racing to make it agree through KV Create on the current-key entry: one
// wins, the others load its key.
func OpenKeyring(ctx context.Context, js jetstream.JetStream, box *secrets.Box, replicas int) (*Keyring, error) {
	kv, err := openBucket(ctx, js, replicas)
	if err != nil {
		return nil, fmt.Errorf("audit: key bucket: %w", err)
	}
	for attempt := 0; attempt < 3; attempt++ {
		cur, err := kv.Get(ctx, currentKey)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			if err := createKey(ctx, kv, box); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("audit: key bucket: %w", err)
		}
		return loadKeyring(ctx, kv, box, string(cur.Value()))
	}
	return nil, errors.New("audit: could not settle on a signing key")
}

func createKey(ctx context.Context, kv jetstream.KeyValue, box *secrets.Box) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	id := keyID(pub)
	sealed, err := box.Seal(priv.Seed(), keyAAD(id))
	if err != nil {
		return err
	}
	entry, _ := json.Marshal(storedKey{
		PublicKey:     PublicKey{KeyID: id, Algorithm: "Ed25519", Public: base64.RawURLEncoding.EncodeToString(pub), CreatedAt: time.Now().UTC()},
		PrivateSealed: sealed,
	})
	if _, err := kv.Create(ctx, keyPrefix+id, entry); err != nil {
		return fmt.Errorf("audit: store key: %w", err)
	}
	if _, err := kv.Create(ctx, currentKey, []byte(id)); err != nil {
		// Another replica won: drop ours, which never signed anything.
		_ = kv.Purge(ctx, keyPrefix+id)
		return err
	}
	return nil
}

func loadKeyring(ctx context.Context, kv jetstream.KeyValue, box *secrets.Box, current string) (*Keyring, error) {
	stored, err := readKeys(ctx, kv)
	if err != nil {
		return nil, err
	}
	k := &Keyring{set: KeySet{}}
	for _, sk := range stored {
		pub, err := base64.RawURLEncoding.DecodeString(sk.Public)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			continue
		}
		seed, err := box.Open(sk.PrivateSealed, keyAAD(sk.KeyID))
		if err != nil || len(seed) != ed25519.SeedSize {
			continue // not sealed under our master key: not ours to trust
		}
		priv := ed25519.NewKeyFromSeed(seed)
		if !priv.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(pub)) || keyID(pub) != sk.KeyID {
			continue
		}
		k.set[sk.KeyID] = pub
		if sk.KeyID == current {
			k.keyID, k.private = sk.KeyID, priv
			k.public = append([]PublicKey{sk.PublicKey}, k.public...)
		} else {
			k.public = append(k.public, sk.PublicKey)
		}
	}
	if k.private == nil {
		return nil, fmt.Errorf("audit: signing key %s cannot be opened with this master key", current)
	}
	return k, nil
}

func readKeys(ctx context.Context, kv jetstream.KeyValue) ([]storedKey, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: list keys: %w", err)
	}
	var names []string
	for name := range lister.Keys() {
		if strings.HasPrefix(name, keyPrefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []storedKey
	for _, name := range names {
		e, err := kv.Get(ctx, name)
		if err != nil {
			continue
		}
		var sk storedKey
		if json.Unmarshal(e.Value(), &sk) == nil {
			out = append(out, sk)
		}
	}
	return out, nil
}

// LoadPublicKeys reads every published key from the bucket without the
// master key (what binderyctl trusts unless given --key).
func LoadPublicKeys(ctx context.Context, js jetstream.JetStream) (KeySet, error) {
	kv, err := js.KeyValue(ctx, KeyBucket)
	if err != nil {
		return nil, fmt.Errorf("audit: key bucket %s: %w", KeyBucket, err)
	}
	stored, err := readKeys(ctx, kv)
	if err != nil {
		return nil, err
	}
	set := KeySet{}
	for _, sk := range stored {
		if pub, err := ParsePublicKey(sk.Public); err == nil && keyID(pub) == sk.KeyID {
			set[sk.KeyID] = pub
		}
	}
	return set, nil
}

// ParsePublicKey reads a base64url (or standard base64) Ed25519 public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("audit: not an Ed25519 public key")
	}
	return b, nil
}

// KeySetOf builds a key set from public keys (pinned on the command line).
func KeySetOf(pubs ...ed25519.PublicKey) KeySet {
	set := KeySet{}
	for _, p := range pubs {
		set[keyID(p)] = p
	}
	return set
}
