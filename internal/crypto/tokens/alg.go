package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The algorithms Bindery signs id_tokens with: EdDSA (Ed25519, the
// default: deterministic, not malleable, cheap) or ES256 (P-256), whose
// signatures are made and accepted only in their low-S form, so that a
// token has one valid signature.
const (
	AlgEdDSA = string(jose.EdDSA)
	AlgES256 = string(jose.ES256)
)

// DefaultAlgorithm is what SignerOptions.Algorithm means when empty.
const DefaultAlgorithm = AlgEdDSA

func knownAlg(alg string) bool { return alg == AlgEdDSA || alg == AlgES256 }

// newKey generates a key of alg created at now.
func newKey(now time.Time, alg string) (Key, error) {
	k := Key{Alg: alg, Created: now.UTC()}
	switch alg {
	case AlgES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return Key{}, fmt.Errorf("tokens: generate key: %w", err)
		}
		k.Private = priv
	case AlgEdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Key{}, fmt.Errorf("tokens: generate key: %w", err)
		}
		k.Ed25519 = priv
	default:
		return Key{}, fmt.Errorf("tokens: algorithm %q not supported", alg)
	}
	kid, err := thumbprint(k.Public())
	if err != nil {
		return Key{}, err
	}
	k.ID = kid
	return k, nil
}

// Public is the key's public half (*ecdsa.PublicKey or ed25519.PublicKey).
func (k Key) Public() crypto.PublicKey {
	if k.Alg == AlgEdDSA {
		return k.Ed25519.Public()
	}
	return &k.Private.PublicKey
}

// private is the key's private half, for signing and storing.
func (k Key) private() crypto.PrivateKey {
	if k.Alg == AlgEdDSA {
		return k.Ed25519
	}
	return k.Private
}

func thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("tokens: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

var (
	p256N     = elliptic.P256().Params().N
	p256HalfN = new(big.Int).Rsh(p256N, 1)
)

// lowS rewrites the signature of a compact ES256 JWS to its low-S form
// (s ≤ n/2; (r, n−s) verifies as well as (r, s)).
func lowS(compact string) (string, error) {
	i := strings.LastIndexByte(compact, '.')
	sig, err := base64.RawURLEncoding.DecodeString(compact[i+1:])
	if err != nil || len(sig) != 64 {
		return "", fmt.Errorf("tokens: ES256 signature of %d bytes", len(sig))
	}
	s := new(big.Int).SetBytes(sig[32:])
	if s.Cmp(p256HalfN) <= 0 {
		return compact, nil
	}
	s.Sub(p256N, s).FillBytes(sig[32:])
	return compact[:i+1] + base64.RawURLEncoding.EncodeToString(sig), nil
}

// isLowS reports whether a raw r||s ES256 signature has s ≤ n/2.
func isLowS(sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	return new(big.Int).SetBytes(sig[32:]).Cmp(p256HalfN) <= 0
}
