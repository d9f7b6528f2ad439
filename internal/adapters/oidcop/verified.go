package oidcop

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedTokens remembers access tokens whose signature was verified, so
// that a token a resource server introspects on every request costs its
// signature check (an Ed25519 or P-256 verification, a quarter of an
// introspection's CPU) once, not every time. It is keyed by the SHA-256 of
// the whole token, so only the very bytes that verified match; an entry
// holds no token, counts only until the token's exp, and only while the
// key that signed it is still published. It never stands for liveness:
// whether the token still counts (revocation, its family, its account) is
// decided on the store every time.
type verifiedTokens struct {
	mu      sync.Mutex
	entries map[[32]byte]verifiedToken
	max     int
}

type verifiedToken struct {
	jti, sub, kid string
	exp           time.Time
}

func newVerifiedTokens(max int) *verifiedTokens {
	return &verifiedTokens{entries: map[[32]byte]verifiedToken{}, max: max}
}

// get answers a token verified before that counts at now by its exp and
// its key (published reports the key).
func (v *verifiedTokens) get(tok string, now time.Time, published func(kid string) bool) (verifiedToken, bool) {
	k := sha256.Sum256([]byte(tok))
	v.mu.Lock()
	e, ok := v.entries[k]
	v.mu.Unlock()
	if !ok || !now.Before(e.exp) || !published(e.kid) {
		return verifiedToken{}, false
	}
	return e, true
}

// put remembers a verified token. When full it first drops the expired
// entries, and forgets everything if that is not enough (a cache miss only
// costs a verification).
func (v *verifiedTokens) put(tok string, e verifiedToken, now time.Time) {
	k := sha256.Sum256([]byte(tok))
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.entries) >= v.max {
		for key, old := range v.entries {
			if !now.Before(old.exp) {
				delete(v.entries, key)
			}
		}
		if len(v.entries) >= v.max {
			clear(v.entries)
		}
	}
	v.entries[k] = e
}
