package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
)

// NewSessionToken returns a new opaque token, prefix + "." + base64url of 32
// random bytes (256 bits), and its hash (HashToken), which is all that may
// be stored. The prefix (e.g. "bst" for session tokens, "bbt" for bind
// tickets) only helps people and secret scanners tell tokens apart.
func NewSessionToken(prefix string) (token string, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	token = prefix + "." + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken returns hex(sha256(token)), the stored form of an opaque token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// HashEqual compares two token hashes in constant time.
func HashEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
