package tokens

import (
	"crypto"

	jose "github.com/go-jose/go-jose/v4"
)

// SigningKey returns the id, algorithm and private key of the active key,
// for the OpenID Provider, which signs its id_tokens and access tokens with
// the same key set this Signer publishes (one JWKS for everything).
func (s *Signer) SigningKey() (string, jose.SignatureAlgorithm, crypto.PrivateKey) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k := s.active
	if k.Alg == AlgEdDSA {
		return k.ID, jose.EdDSA, k.Ed25519
	}
	return k.ID, jose.ES256, k.Private
}
