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
