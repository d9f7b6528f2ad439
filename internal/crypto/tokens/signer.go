// Package tokens signs and verifies Bindery's id_tokens (EdDSA or ES256 JWTs), keeps
// the signing keys (sealed under the master key, rotated, published as JWKS),
// and makes the opaque session tokens.
package tokens

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/bindery/bindery/internal/crypto/secrets"
	jose "github.com/go-jose/go-jose/v4"
)

// Errors returned by Verify. Every rejection matches ErrInvalidToken; an
// expired token also matches ErrExpired and a token signed by a key this
// Signer does not (yet) know also matches ErrUnknownKey.
var (
	ErrInvalidToken = errors.New("invalid token")
	ErrExpired      = errors.New("token expired")
	ErrUnknownKey   = errors.New("unknown signing key")
)

// Leeway is the clock skew Verify tolerates on exp, nbf and iat.
const Leeway = 60 * time.Second

// MaxTokenLen bounds the tokens Verify will parse.
const MaxTokenLen = 32 << 10

// Defaults of SignerOptions.
const (
	DefaultRotateEvery = 30 * 24 * time.Hour
	DefaultOverlap     = 24 * time.Hour
)

// maxSaveAttempts bounds the load-decide-save loop when replicas race.
const maxSaveAttempts = 8

// SignerOptions configure a Signer.
type SignerOptions struct {
	Issuer      string           // the iss of every token, e.g. https://id.example.com; required
	Now         func() time.Time // the clock; default time.Now
	RotateEvery time.Duration    // age after which RotateIfDue rotates; default 30 days
	// Overlap is how long a retired key stays published and accepted; it
	// must exceed the longest id_token lifetime. Default 24h.
	Overlap time.Duration
	// Algorithm signs new tokens: AlgEdDSA (default) or AlgES256. A stored
	// active key of the other algorithm is rotated out (it stays published
	// and accepted for Overlap), so every replica must be set alike.
	Algorithm string
}

func (o *SignerOptions) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RotateEvery == 0 {
		o.RotateEvery = DefaultRotateEvery
	}
	if o.Overlap == 0 {
		o.Overlap = DefaultOverlap
	}
	if o.Algorithm == "" {
		o.Algorithm = DefaultAlgorithm
	}
}

// Validate reports every problem with the options.
func (o SignerOptions) Validate() error {
	var errs []error
	if u, err := url.Parse(o.Issuer); o.Issuer == "" || err != nil ||
		(u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("tokens: issuer %q must be an http(s) URL without query or fragment", o.Issuer))
	}
	if o.RotateEvery < 0 {
		errs = append(errs, errors.New("tokens: RotateEvery must not be negative"))
	}
	if o.Overlap < 0 {
		errs = append(errs, errors.New("tokens: Overlap must not be negative"))
	}
	if o.Algorithm != "" && !knownAlg(o.Algorithm) {
		errs = append(errs, fmt.Errorf("tokens: algorithm %q: want %s or %s", o.Algorithm, AlgEdDSA, AlgES256))
	}
	return errors.Join(errs...)
}

// Signer signs id_tokens with the active key of a key set shared by every
// replica through a KeyStore, and verifies tokens signed by any key of that
// set that is active or retired less than Overlap ago. It is safe for
// concurrent use.
type Signer struct {
	store KeyStore
	box   *secrets.Box
	opts  SignerOptions

	mu       sync.RWMutex
	keys     []Key // newest first
	active   *Key
	signer   compactSigner // for active, typ JWT
	atSigner compactSigner // for active, typ at+jwt (RFC 9068)
}

// NewSigner loads the key set from store, creating and saving a first key
// when there is none. Replicas racing to create it converge on one set: the
// save is a compare-and-swap, and the loser reloads.
func NewSigner(ctx context.Context, store KeyStore, box *secrets.Box, opts SignerOptions) (*Signer, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if store == nil || box == nil {
		return nil, errors.New("tokens: NewSigner needs a store and a box")
	}
	s := &Signer{store: store, box: box, opts: opts}
	if err := s.update(ctx, s.ensureActive); err != nil {
		return nil, err
	}
	return s, nil
}

// Algorithm is the alg of the tokens Sign makes.
func (s *Signer) Algorithm() string { return s.opts.Algorithm }

// Issuer returns the issuer the Signer puts in and expects of tokens.
func (s *Signer) Issuer() string { return s.opts.Issuer }

// ActiveKeyID returns the kid of the key that signs new tokens.
func (s *Signer) ActiveKeyID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.active.ID
}

// Rotate makes a new key active and retires the current one, which stays
// published and accepted until its retirement plus Overlap.
func (s *Signer) Rotate(ctx context.Context) error {
	return s.update(ctx, func(keys []Key, now time.Time) ([]Key, bool, error) {
		return rotate(keys, now, s.opts.Algorithm)
	})
}

// RotateIfDue rotates when the active key is RotateEvery old or more, deciding
// on the freshly loaded set so that replicas calling it together rotate once.
// When no rotation is due it refreshes. It reports whether it rotated.
func (s *Signer) RotateIfDue(ctx context.Context) (bool, error) {
	var rotated bool
	err := s.update(ctx, func(keys []Key, now time.Time) ([]Key, bool, error) {
		rotated = false
		if a := newestActive(keys); a != nil && now.Sub(a.Created) < s.opts.RotateEvery && a.Alg == s.opts.Algorithm {
			return keys, false, nil
		}
		rotated = true
		return rotate(keys, now, s.opts.Algorithm)
	})
	return rotated, err
}

// Refresh reloads the key set from the store, to pick up another replica's
// rotation. If the stored set has no active key (it was deleted), Refresh
// creates one.
func (s *Signer) Refresh(ctx context.Context) error {
	return s.update(ctx, s.ensureActive)
}

// Maintain calls RotateIfDue (which also refreshes) every interval until ctx
// is done, passing errors to onErr (which may be nil). Run it in a goroutine
// on every replica; an interval of a minute or so keeps replicas in step.
func (s *Signer) Maintain(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.RotateIfDue(ctx); err != nil && onErr != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
	}
}

// Sign returns a compact JWS (header alg EdDSA or ES256, typ JWT, kid) of claims, with
// iss set to the issuer when absent. The caller supplies sub, aud, iat, exp,
// auth_time, amr, sid and the profile claims; exp is required. Time claims
// (exp, iat, nbf, auth_time) may be given as time.Time and are written as
// unix seconds. claims is not modified.
func (s *Signer) Sign(claims map[string]any) (string, error) {
	return s.sign(claims, typJWT)
}

func (s *Signer) sign(claims map[string]any, typ string) (string, error) {
	c := maps.Clone(claims)
	if c == nil {
		c = map[string]any{}
	}
	if _, ok := c["iss"]; !ok {
		c["iss"] = s.opts.Issuer
	}
	for _, name := range []string{"exp", "iat", "nbf", "auth_time"} {
		if t, ok := c[name].(time.Time); ok {
			c[name] = t.Unix()
		}
	}
	if _, ok := c["exp"]; !ok {
		return "", errors.New("tokens: Sign: claims need exp")
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("tokens: Sign: %w", err)
	}
	s.mu.RLock()
	signer := s.signer
	if typ == typAccessToken {
		signer = s.atSigner
	}
	s.mu.RUnlock()
	compact, err := signer.sign(payload)
	if err != nil {
		return "", fmt.Errorf("tokens: Sign: %w", err)
	}
	return compact, nil
}

// JWKS returns the public keys to publish at /.well-known/jwks.json: the
// active key first, then retired keys still within Overlap.
func (s *Signer) JWKS() jose.JSONWebKeySet {
	now := s.opts.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range s.keys {
		if k.publishedAt(now, s.opts.Overlap) {
			set.Keys = append(set.Keys, jose.JSONWebKey{
				Key: k.Public(), KeyID: k.ID, Algorithm: k.Alg, Use: "sig",
			})
		}
	}
	return set
}

// Verify checks token at now and returns its claims (JSON numbers as
// float64). It accepts only EdDSA and ES256 (in its low-S form), each only
// with a key of that algorithm, only a kid of this Signer's published keys
// (never a key named or embedded by the token: jku, jwk, x5u and x5c are
// refused), and only typ JWT; then requires iss to be the issuer, aud to
// contain audience (unless audience is ""), exp to be after now, and nbf and
// iat not to be in the future, each within Leeway.
//
// A token signed by a key rotated in by another replica fails with
// ErrUnknownKey until Refresh.
func (s *Signer) Verify(token string, audience string, now time.Time) (map[string]any, error) {
	return s.verify(token, audience, now, typJWT)
}

func (s *Signer) verify(token string, audience string, now time.Time, typ string) (map[string]any, error) {
	if len(token) > MaxTokenLen {
		return nil, invalid("token too long")
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid("want one signature")
	}
	sig := jws.Signatures[0]
	if err := checkHeader(sig, typ); err != nil {
		return nil, err
	}
	pub, alg := s.publicKey(sig.Protected.KeyID, now)
	if pub == nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrUnknownKey)
	}
	if sig.Protected.Algorithm != alg {
		return nil, invalid("algorithm does not match the key")
	}
	if alg == AlgES256 && !isLowS(sig.Signature) {
		return nil, invalid("ES256 signature not in low-S form")
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return nil, invalid("bad signature")
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims == nil {
		return nil, invalid("claims are not a JSON object")
	}
	if err := s.checkClaims(claims, audience, now); err != nil {
		return nil, err
	}
	return claims, nil
}

// publicKey returns the public key of kid and its algorithm if it is
// published at now.
func (s *Signer) publicKey(kid string, now time.Time) (crypto.PublicKey, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range s.keys {
		if k.ID == kid && k.publishedAt(now, s.opts.Overlap) {
			return k.Public(), k.Alg
		}
	}
	return nil, ""
}

// mutation decides a new key set from the stored one (nil when the store is
// empty); changed=false means keep the stored set as it is.
type mutation func(keys []Key, now time.Time) (next []Key, changed bool, err error)

// update loads the set, applies m, and saves the result with a
// compare-and-swap, deciding again on fresh state when another replica wrote
// first. It then installs the set it saved or found.
func (s *Signer) update(ctx context.Context, m mutation) error {
	for range maxSaveAttempts {
		keys, rev, err := s.load(ctx)
		if err != nil {
			return err
		}
		now := s.opts.Now()
		next, changed, err := m(keys, now)
		if err != nil {
			return err
		}
		if !changed {
			return s.install(keys)
		}
		next = slices.DeleteFunc(next, func(k Key) bool { return !k.publishedAt(now, s.opts.Overlap) })
		data, err := encodeSet(next, s.box)
		if err != nil {
			return err
		}
		err = s.store.Save(ctx, data, rev)
		if errors.Is(err, ErrRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("tokens: save key set: %w", err)
		}
		return s.install(next)
	}
	return fmt.Errorf("tokens: key set changed %d times while updating: %w", maxSaveAttempts, ErrRevisionMismatch)
}

func (s *Signer) load(ctx context.Context) ([]Key, uint64, error) {
	data, rev, err := s.store.Load(ctx)
	if errors.Is(err, ErrNoKeys) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("tokens: load key set: %w", err)
	}
	keys, err := decodeSet(data, s.box)
	if err != nil {
		return nil, 0, err
	}
	return keys, rev, nil
}

// install makes keys the Signer's set; it must hold an active key.
func (s *Signer) install(keys []Key) error {
	keys = slices.Clone(keys)
	slices.SortStableFunc(keys, func(a, b Key) int { return b.Created.Compare(a.Created) })
	active := newestActive(keys)
	if active == nil {
		return errors.New("tokens: key set has no active key")
	}
	signer, err := newCompactSigner(active, typJWT)
	if err != nil {
		return err
	}
	atSigner, err := newCompactSigner(active, typAccessToken)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.active, s.signer, s.atSigner = keys, active, signer, atSigner
	return nil
}

// newestActive returns the most recently created active key, or nil.
func newestActive(keys []Key) *Key {
	var best *Key
	for i := range keys {
		if keys[i].Active() && (best == nil || keys[i].Created.After(best.Created)) {
			best = &keys[i]
		}
	}
	return best
}

// ensureActive makes sure there is an active key of the configured
// algorithm: it adds one to an empty set, and rotates out an active key
// of the other algorithm.
func (s *Signer) ensureActive(keys []Key, now time.Time) ([]Key, bool, error) {
	if a := newestActive(keys); a != nil {
		if a.Alg == s.opts.Algorithm {
			return keys, false, nil
		}
		return rotate(keys, now, s.opts.Algorithm)
	}
	k, err := newKey(now, s.opts.Algorithm)
	if err != nil {
		return nil, false, err
	}
	return append(slices.Clone(keys), k), true, nil
}

// rotate retires every active key at now and adds a new active one of alg.
func rotate(keys []Key, now time.Time, alg string) ([]Key, bool, error) {
	k, err := newKey(now, alg)
	if err != nil {
		return nil, false, err
	}
	next := slices.Clone(keys)
	for i := range next {
		if next[i].Active() {
			next[i].Retired = now.UTC()
		}
	}
	return append(next, k), true, nil
}
