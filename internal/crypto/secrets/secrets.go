// Package secrets encrypts credentials at rest under Bindery's master key
// (AES-256-GCM) and loads that key from BINDERY_MASTER_KEY or the data dir.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length in bytes of a master key.
const KeySize = 32

// sealPrefix versions the sealed format so the algorithm can change later.
const sealPrefix = "v1:"

var (
	// ErrTampered reports that a sealed value failed authentication: it was
	// altered, sealed under another key, or opened with a different aad.
	ErrTampered = errors.New("secrets: sealed value failed authentication")
	// ErrMalformed reports a sealed value that is not in the "v1:" format.
	ErrMalformed = errors.New("secrets: malformed sealed value")
)

// Box seals and opens values with AES-256-GCM under one key, and also opens
// values sealed under the retired keys it was given (WithRetired). It is
// safe for concurrent use.
type Box struct {
	aead    cipher.AEAD
	id      string
	retired []cipher.AEAD
}

// NewBox returns a Box for key, which must be exactly 32 bytes.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secrets: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return &Box{aead: aead, id: KeyID(key)}, nil
}

// KeyID is a short public fingerprint of a key: it names a retired master
// key's entry and shows in a rotation's report, and reveals nothing of it.
func KeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("bindery master key id"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// KeyID is the fingerprint of the key the Box seals under.
func (b *Box) KeyID() string { return b.id }

// WithRetired returns a Box that seals under b's key and opens what was
// sealed under b's key or under any of the retired boxes' keys: after a
// master-key rotation, the secrets sealed in the append-only history under
// an earlier master key are never rewritten, and still open.
func (b *Box) WithRetired(retired ...*Box) *Box {
	out := &Box{aead: b.aead, id: b.id, retired: append([]cipher.AEAD(nil), b.retired...)}
	for _, r := range retired {
		out.retired = append(out.retired, r.aead)
		out.retired = append(out.retired, r.retired...)
	}
	return out
}

// Seal encrypts plaintext bound to aad (the context the value belongs to,
// e.g. "app-secret:<app id>"; Open must be given the same aad) and returns
// "v1:" + base64url(nonce|ciphertext) with a random 96-bit nonce.
func (b *Box) Seal(plaintext []byte, aad string) (string, error) {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secrets: nonce: %w", err)
	}
	out := b.aead.Seal(nonce, nonce, plaintext, []byte(aad))
	return sealPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value produced by Seal with the same aad, under the
// Box's key or a retired one. It returns
// ErrMalformed for a value not in the sealed format and ErrTampered when
// authentication fails.
func (b *Box) Open(sealed string, aad string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return nil, ErrMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return nil, ErrMalformed
	}
	ns := b.aead.NonceSize()
	if len(raw) < ns+b.aead.Overhead() {
		return nil, ErrMalformed
	}
	pt, err := b.aead.Open(nil, raw[:ns], raw[ns:], []byte(aad))
	for i := 0; err != nil && i < len(b.retired); i++ {
		pt, err = b.retired[i].Open(nil, raw[:ns], raw[ns:], []byte(aad))
	}
	if err != nil {
		return nil, ErrTampered
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}
