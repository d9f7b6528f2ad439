// Package datakeys keeps the per-subject data keys that personal values are
// sealed under (SPEC §8): random AES-256 keys, each sealed under the master
// key, in JetStream KV buckets that can really forget — one entry per key
// (history 1), and erasing a key securely deletes its message and purges it,
// so no revision of it is left. The Keyring is the events.Sealer.
package datakeys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/secrets"
)

// Buckets: the history's keys (accounts, and the server's own keys) live
// until erased; the auth log's (login attempts, QR sessions, one-time
// codes) expire with the auth log they seal.
const (
	Bucket     = "BINDERY_DATAKEYS"
	AuthBucket = "BINDERY_AUTHKEYS"
)

// tokenVersion starts every sealed value's token.
const tokenVersion = "v1:"

// Options shape the buckets.
type Options struct {
	Replicas   int
	AuthMaxAge time.Duration // the auth log's retention; 0 = forever
	Timeout    time.Duration // per KV request; default 10s
}

// Keyring seals and opens personal values under data keys, caching the
// keys it opened. It is safe for concurrent use.
type Keyring struct {
	js      jetstream.JetStream
	master  *masterKeys
	buckets map[string]jetstream.KeyValue // by bucket name
	timeout time.Duration

	mu     sync.RWMutex
	keys   map[string]*dataKey // by owner
	erased map[string]bool     // owners whose key this process saw erased

	stopWatch context.CancelFunc
	watching  sync.WaitGroup
}

// dataKey is one cached key: its sealed form as stored, and the cipher,
// opened on first use.
type dataKey struct {
	sealed string
	aead   cipher.AEAD
}

var _ events.Sealer = (*Keyring)(nil)

// Open creates (or opens) the buckets and starts following them, so that
// keys other replicas create or erase reach this cache.
func Open(ctx context.Context, js jetstream.JetStream, master *secrets.Box, opts Options) (*Keyring, error) {
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	k := &Keyring{js: js, master: newMasterKeys(master), buckets: map[string]jetstream.KeyValue{},
		timeout: opts.Timeout, keys: map[string]*dataKey{}, erased: map[string]bool{}}
	for name, maxAge := range map[string]time.Duration{Bucket: 0, AuthBucket: opts.AuthMaxAge} {
		kv, err := openBucket(ctx, js, name, maxAge, opts.Replicas)
		if err != nil {
			return nil, err
		}
		k.buckets[name] = kv
	}
	if err := k.loadRetired(ctx); err != nil {
		return nil, err
	}
	watchCtx, stop := context.WithCancel(context.Background())
	k.stopWatch = stop
	for _, kv := range k.buckets {
		if err := k.follow(ctx, watchCtx, kv); err != nil {
			stop()
			return nil, err
		}
	}
	return k, nil
}

// openBucket creates the bucket's stream itself: a KV stream as nats.go
// makes it, but allowing deletes, so that an erased key's message can be
// overwritten (SecureDeleteMsg) rather than only dropped from the index.
func openBucket(ctx context.Context, js jetstream.JetStream, name string, maxAge time.Duration, replicas int) (jetstream.KeyValue, error) {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              "KV_" + name,
		Description:       "Bindery data keys, sealed under the master key",
		Subjects:          []string{"$KV." + name + ".>"},
		MaxMsgsPerSubject: 1,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxConsumers:      -1,
		MaxAge:            maxAge,
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		AllowRollup:       true,
		AllowDirect:       true,
		Discard:           jetstream.DiscardNew,
		Duplicates:        2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("datakeys: bucket %s: %w", name, err)
	}
	kv, err := js.KeyValue(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("datakeys: bucket %s: %w", name, err)
	}
	return kv, nil
}

// follow loads every key of the bucket into the cache (sealed; each is
// opened when first used) and keeps following the bucket's changes.
func (k *Keyring) follow(ctx, watchCtx context.Context, kv jetstream.KeyValue) error {
	w, err := kv.WatchAll(watchCtx)
	if err != nil {
		return fmt.Errorf("datakeys: watch %s: %w", kv.Bucket(), err)
	}
	loaded := make(chan struct{})
	k.watching.Go(func() {
		initial := true
		for e := range w.Updates() {
			if e == nil {
				if initial {
					initial = false
					close(loaded)
				}
				continue
			}
			k.observe(e)
		}
		if initial {
			close(loaded)
		}
	})
	select {
	case <-loaded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// observe applies one bucket change to the cache.
func (k *Keyring) observe(e jetstream.KeyValueEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	owner := e.Key()
	switch e.Operation() {
	case jetstream.KeyValuePut:
		if strings.HasPrefix(owner, retiredPrefix) {
			return
		}
		sealed := string(e.Value())
		if c, ok := k.keys[owner]; ok && c.sealed == sealed {
			return
		}
		if c, ok := k.keys[owner]; ok && c.aead != nil {
			// Re-sealed (a master-key rotation): the key itself is the same.
			k.keys[owner] = &dataKey{sealed: sealed, aead: c.aead}
			return
		}
		k.keys[owner] = &dataKey{sealed: sealed}
		delete(k.erased, owner)
	default: // deleted or purged
		delete(k.keys, owner)
		k.erased[owner] = true
	}
}

// Close stops following the buckets.
func (k *Keyring) Close() {
	if k.stopWatch != nil {
		k.stopWatch()
	}
	k.watching.Wait()
}

// bucketOf is the bucket an owner's key lives in.
func (k *Keyring) bucketOf(owner string) jetstream.KeyValue {
	typ, _, _ := strings.Cut(owner, ".")
	if events.StreamOf(typ) == events.StreamAuthLog {
		return k.buckets[AuthBucket]
	}
	return k.buckets[Bucket]
}

// opCtx bounds one operation on the buckets by the Keyring's timeout
// and by parent (the request's deadline, when there is one).
func (k *Keyring) opCtx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, k.timeout)
}

// aad binds a sealed data key to its owner.
func aad(owner string) string { return "datakey:" + owner }

// key returns owner's cipher, reading the bucket on a cache miss and
// creating the key when create is set and there is none.
func (k *Keyring) key(ctx context.Context, owner string, create bool) (cipher.AEAD, error) {
	k.mu.RLock()
	c, ok := k.keys[owner]
	erased := k.erased[owner]
	k.mu.RUnlock()
	if ok && c.aead != nil {
		return c.aead, nil
	}
	if ok {
		return k.openCached(owner, c.sealed)
	}
	if erased && !create {
		return nil, fmt.Errorf("%s: %w", owner, events.ErrErased)
	}
	ctx, cancel := k.opCtx(ctx)
	defer cancel()
	kv := k.bucketOf(owner)
	for range 3 {
		e, err := kv.Get(ctx, owner)
		if err == nil {
			return k.openCached(owner, string(e.Value()))
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyDeleted) {
			return nil, fmt.Errorf("datakeys: read %s: %w", owner, err)
		}
		if !create {
			return nil, fmt.Errorf("%s: %w", owner, events.ErrErased)
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
			return k.openCached(owner, sealed)
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("datakeys: create %s: %w", owner, err)
		}
		// Another replica created it first: read theirs.
	}
	return nil, fmt.Errorf("datakeys: create %s: kept conflicting", owner)
}

// openCached opens a sealed key and caches its cipher.
func (k *Keyring) openCached(owner, sealed string) (cipher.AEAD, error) {
	raw, err := k.master.open(sealed, aad(owner))
	if err != nil {
		return nil, fmt.Errorf("datakeys: open the key of %s: %w", owner, err)
	}
	return k.cache(owner, sealed, raw)
}

// cache keeps the cipher of a key whose raw bytes are at hand.
func (k *Keyring) cache(owner, sealed string, raw []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.keys[owner] = &dataKey{sealed: sealed, aead: aead}
	delete(k.erased, owner)
	k.mu.Unlock()
	return aead, nil
}

// Seal implements events.Sealer: "v1:<owner>:<base64url(nonce|ciphertext)>",
// the ciphertext bound to the owner.
func (k *Keyring) Seal(owner string, plaintext []byte) (string, error) {
	aead, err := k.key(context.Background(), owner, true)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, plaintext, []byte(owner))
	return tokenVersion + owner + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open implements events.Sealer.
func (k *Keyring) Open(token string) ([]byte, error) {
	owner, body, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	aead, err := k.key(context.Background(), owner, false)
	if err != nil {
		return nil, err
	}
	ns := aead.NonceSize()
	if len(body) < ns+aead.Overhead() {
		return nil, errors.New("datakeys: malformed sealed value")
	}
	pt, err := aead.Open(nil, body[:ns], body[ns:], []byte(owner))
	if err != nil {
		return nil, fmt.Errorf("datakeys: a sealed value of %s failed authentication", owner)
	}
	return pt, nil
}

// OwnerOf names the key a token is sealed under.
func OwnerOf(token string) string {
	owner, _, _ := parseToken(token)
	return owner
}

func parseToken(token string) (string, []byte, error) {
	rest, ok := strings.CutPrefix(token, tokenVersion)
	i := strings.LastIndexByte(rest, ':')
	if !ok || i <= 0 {
		return "", nil, errors.New("datakeys: malformed sealed value")
	}
	body, err := base64.RawURLEncoding.DecodeString(rest[i+1:])
	if err != nil {
		return "", nil, errors.New("datakeys: malformed sealed value")
	}
	return rest[:i], body, nil
}

// Erase destroys owner's data key: its message is overwritten and deleted
// (SecureDeleteMsg) and the key purged, so the bucket keeps no revision
// of it, only the purge marker that tells other replicas. Erasing an
// erased or unknown key is a no-op that succeeds.
func (k *Keyring) Erase(ctx context.Context, owner string) error {
	kv := k.bucketOf(owner)
	e, err := kv.Get(ctx, owner)
	switch {
	case err == nil:
		st, err := k.js.Stream(ctx, "KV_"+kv.Bucket())
		if err != nil {
			return fmt.Errorf("datakeys: erase %s: %w", owner, err)
		}
		if err := st.SecureDeleteMsg(ctx, e.Revision()); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("datakeys: erase %s: %w", owner, err)
		}
	case !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyDeleted):
		return fmt.Errorf("datakeys: erase %s: %w", owner, err)
	}
	if err := kv.Purge(ctx, owner); err != nil {
		return fmt.Errorf("datakeys: erase %s: %w", owner, err)
	}
	k.mu.Lock()
	delete(k.keys, owner)
	k.erased[owner] = true
	k.mu.Unlock()
	return nil
}

// IsErased reports whether owner's key is gone (erased, or expired with
// the auth log), from the cache when it can: an audit export marks each
// event whose values can no longer be opened. A key that cannot be read
// for another reason counts as present.
func (k *Keyring) IsErased(owner string) bool {
	_, err := k.key(context.Background(), owner, false)
	if !errors.Is(err, events.ErrErased) {
		return false
	}
	// Remembered: an export meets the same expired login keys again and
	// again. A key made afterwards (a put seen by the watch) clears it.
	k.mu.Lock()
	k.erased[owner] = true
	k.mu.Unlock()
	return true
}

// Erased reports whether owner's key is gone from the bucket: no revision
// holding key material is left.
func (k *Keyring) Erased(ctx context.Context, owner string) (bool, error) {
	hist, err := k.bucketOf(owner).History(ctx, owner)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range hist {
		if e.Operation() == jetstream.KeyValuePut || len(e.Value()) > 0 {
			return false, nil
		}
	}
	return true, nil
}
