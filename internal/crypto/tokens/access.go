package tokens

import "time"

// JOSE typ values: id_tokens are JWT, access tokens at+jwt (RFC 9068 §2.1),
// so that neither passes where the other is expected.
const (
	typJWT         = "JWT"
	typAccessToken = "at+jwt"
)

// SignAccessToken is Sign for an OAuth access token (RFC 9068): the same
// keys and claims rules, with the JOSE header typ at+jwt.
func (s *Signer) SignAccessToken(claims map[string]any) (string, error) {
	return s.sign(claims, typAccessToken)
}

// VerifyAccessToken is Verify for an access token SignAccessToken made
// (typ at+jwt only; Verify refuses those). audience "" accepts any.
func (s *Signer) VerifyAccessToken(token, audience string, now time.Time) (map[string]any, error) {
	return s.verify(token, audience, now, typAccessToken)
}

// KeyPublished reports whether key kid still verifies tokens at now (active,
// or retired less than the overlap ago): a cache of tokens verified earlier
// asks it before trusting one again.
func (s *Signer) KeyPublished(kid string, now time.Time) bool {
	pub, _ := s.publicKey(kid, now)
	return pub != nil
}
