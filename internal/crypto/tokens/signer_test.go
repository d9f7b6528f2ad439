package tokens

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

const testIssuer = "https://id.example.com"

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newBox(t testing.TB) *secrets.Box {
	t.Helper()
	key := make([]byte, secrets.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	box, err := secrets.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// newSigner is an ES256 signer: the tests of this file forge ES256 tokens
// with its key (alg_test.go covers EdDSA, the default).
func newSigner(t *testing.T, store KeyStore, box *secrets.Box, clk *clock) *Signer {
	t.Helper()
	s, err := NewSigner(context.Background(), store, box, SignerOptions{Issuer: testIssuer, Now: clk.Now, Algorithm: AlgES256})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claimsAt(now time.Time) map[string]any {
	return map[string]any{
		"sub":       "acct-1",
		"aud":       "demo",
		"iat":       now.Unix(),
		"exp":       now.Add(15 * time.Minute).Unix(),
		"auth_time": now.Unix(),
		"amr":       []string{"wechat"},
		"sid":       "sess-1",
		"name":      "Ada",
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1700000000, 0)}
	s := newSigner(t, NewMemoryKeyStore(), newBox(t), clk)
	in := claimsAt(clk.Now())
	tok, err := s.Sign(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := in["iss"]; ok {
		t.Error("Sign modified its argument")
	}
	header := decodeSegment(t, tok, 0)
	if header["alg"] != "ES256" || header["typ"] != "JWT" || header["kid"] != s.ActiveKeyID() || len(header) != 3 {
		t.Errorf("header = %v", header)
	}
	got, err := s.Verify(tok, "demo", clk.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got["iss"] != testIssuer || got["sub"] != "acct-1" || got["name"] != "Ada" || got["exp"] != float64(in["exp"].(int64)) {
		t.Errorf("claims = %v", got)
	}
	if _, err := s.Verify(tok, "", clk.Now()); err != nil {
		t.Errorf("Verify without audience: %v", err)
	}
}

func TestSignTimeClaimsAndExp(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1700000000, 0)}
	s := newSigner(t, NewMemoryKeyStore(), newBox(t), clk)
	tok, err := s.Sign(map[string]any{"sub": "a", "aud": "demo", "iat": clk.Now(), "exp": clk.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if p := decodeSegment(t, tok, 1); p["exp"] != float64(1700000060) || p["iat"] != float64(1700000000) {
		t.Errorf("payload = %v, want unix seconds", p)
	}
	if _, err := s.Sign(map[string]any{"sub": "a"}); err == nil {
		t.Error("Sign without exp: want error")
	}
}

func decodeSegment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// forge builds a compact JWS with any header and payload, signed by sign.
func forge(header, payload map[string]any, sign func(input []byte) []byte) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func es256(key *ecdsa.PrivateKey) func([]byte) []byte {
	return func(input []byte) []byte {
		sum := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
		if err != nil {
			panic(err)
		}
		if s.Cmp(p256HalfN) > 0 { // the low-S form, the one Verify accepts
			s.Sub(p256N, s)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1700000000, 0)}
	box := newBox(t)
	s := newSigner(t, NewMemoryKeyStore(), box, clk)
	other := newSigner(t, NewMemoryKeyStore(), box, clk)
	now := clk.Now()
	key := s.active.Private
	kid := s.ActiveKeyID()
	hdr := func(extra map[string]any) map[string]any {
		h := map[string]any{"alg": "ES256", "typ": "JWT", "kid": kid}
		for k, v := range extra {
			if v == nil {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		return h
	}
	good := func(extra map[string]any) map[string]any {
		c := claimsAt(now)
		c["iss"] = testIssuer
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	sign := func(c map[string]any) string {
		tok, err := s.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// The public key as an HMAC secret, in the forms a confused verifier might use.
	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey})
	hs256 := func(secret []byte) func([]byte) []byte {
		return func(in []byte) []byte { m := hmac.New(sha256.New, secret); m.Write(in); return m.Sum(nil) }
	}
	otherTok, _ := other.Sign(good(nil))
	goodTok := sign(good(nil))
	parts := strings.Split(goodTok, ".")

	tests := []struct {
		name  string
		token string
		aud   string
		now   time.Time
		want  error
	}{
		{"control", goodTok, "demo", now, nil},
		{"control forged", forge(hdr(nil), good(nil), es256(key)), "demo", now, nil},
		{"control aud list", sign(good(map[string]any{"aud": []string{"x", "demo"}})), "demo", now, nil},
		{"control exp within leeway", goodTok, "demo", now.Add(15*time.Minute + 59*time.Second), nil},
		{"control typ lowercase", forge(hdr(map[string]any{"typ": "jwt"}), good(nil), es256(key)), "demo", now, nil},
		{"wrong aud", goodTok, "other-app", now, ErrInvalidToken},
		{"wrong aud list", sign(good(map[string]any{"aud": []string{"x", "y"}})), "demo", now, ErrInvalidToken},
		{"aud not string", sign(good(map[string]any{"aud": 7})), "", now, ErrInvalidToken},
		{"wrong iss", sign(good(map[string]any{"iss": "https://evil.example.com"})), "demo", now, ErrInvalidToken},
		{"missing iss", forge(hdr(nil), good(map[string]any{"iss": nil}), es256(key)), "demo", now, ErrInvalidToken},
		{"expired", goodTok, "demo", now.Add(16 * time.Minute), ErrExpired},
		{"expired is invalid", goodTok, "demo", now.Add(16 * time.Minute), ErrInvalidToken},
		{"missing exp", forge(hdr(nil), good(map[string]any{"exp": nil}), es256(key)), "demo", now, ErrInvalidToken},
		{"exp string", sign(good(map[string]any{"exp": "9999999999"})), "demo", now, ErrInvalidToken},
		{"nbf future", sign(good(map[string]any{"nbf": now.Add(5 * time.Minute).Unix()})), "demo", now, ErrInvalidToken},
		{"iat future", sign(good(map[string]any{"iat": now.Add(5 * time.Minute).Unix()})), "demo", now, ErrInvalidToken},
		{"iat string", sign(good(map[string]any{"iat": "x"})), "demo", now, ErrInvalidToken},
		{"alg none", forge(hdr(map[string]any{"alg": "none"}), good(nil), func([]byte) []byte { return nil }), "demo", now, ErrInvalidToken},
		{"alg none no sig", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".", "demo", now, ErrInvalidToken},
		{"HS256 with public JWK", forge(hdr(map[string]any{"alg": "HS256"}), good(nil), hs256(pubJWK)), "demo", now, ErrInvalidToken},
		{"HS256 with public X", forge(hdr(map[string]any{"alg": "HS256"}), good(nil), hs256(key.PublicKey.X.Bytes())), "demo", now, ErrInvalidToken},
		{"ES384 label", forge(hdr(map[string]any{"alg": "ES384"}), good(nil), es256(key)), "demo", now, ErrInvalidToken},
		{"kid unknown", otherTok, "demo", now, ErrUnknownKey},
		{"kid missing", forge(hdr(map[string]any{"kid": nil}), good(nil), es256(key)), "demo", now, ErrInvalidToken},
		{"kid ours, key not", forge(hdr(nil), good(nil), es256(other.active.Private)), "demo", now, ErrInvalidToken},
		{"typ missing", forge(hdr(map[string]any{"typ": nil}), good(nil), es256(key)), "demo", now, ErrInvalidToken},
		{"typ at+jwt", forge(hdr(map[string]any{"typ": "at+jwt"}), good(nil), es256(key)), "demo", now, ErrInvalidToken},
		{"jku header", forge(hdr(map[string]any{"jku": "https://evil.example.com/jwks"}), good(nil), es256(key)), "demo", now, ErrInvalidToken},
		{"x5u header", forge(hdr(map[string]any{"x5u": "https://evil.example.com/cert"}), good(nil), es256(key)), "demo", now, ErrInvalidToken},
		{"jwk header", forge(hdr(map[string]any{"jwk": jose.JSONWebKey{Key: &key.PublicKey}}), good(nil), es256(key)), "demo", now, ErrInvalidToken},
		{"x5c header", forge(hdr(map[string]any{"x5c": []string{selfSigned(t, key)}}), good(nil), es256(key)), "demo", now, ErrInvalidToken},
		{"crit header", forge(hdr(map[string]any{"crit": []string{"exp"}, "exp": 1}), good(nil), es256(key)), "demo", now, ErrInvalidToken},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+testIssuer+`","sub":"admin","aud":"demo","exp":9999999999}`)) + "." + parts[2], "demo", now, ErrInvalidToken},
		{"payload not object", forge(hdr(nil), nil, es256(key)), "demo", now, ErrInvalidToken},
		{"garbage", "not.a.jwt", "demo", now, ErrInvalidToken},
		{"empty", "", "demo", now, ErrInvalidToken},
		{"json serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, "demo", now, ErrInvalidToken},
		{"too long", sign(good(map[string]any{"pad": strings.Repeat("a", MaxTokenLen)})), "demo", now, ErrInvalidToken},
	}
	for _, tt := range tests {
		_, err := s.Verify(tt.token, tt.aud, tt.now)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify(%q, aud=%q) = %v, want %v", tt.name, tt.token, tt.aud, err, tt.want)
		}
	}
}

// selfSigned returns a base64 DER certificate for key, for an x5c header.
func selfSigned(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func TestRotationOverlap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{now: time.Unix(1700000000, 0)}
	s := newSigner(t, NewMemoryKeyStore(), newBox(t), clk)
	oldKid := s.ActiveKeyID()
	oldTok, _ := s.Sign(map[string]any{"aud": "demo", "exp": clk.Now().Add(48 * time.Hour).Unix()})

	clk.Add(time.Hour)
	if err := s.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	newKid := s.ActiveKeyID()
	if newKid == oldKid {
		t.Fatal("Rotate kept the kid")
	}
	newTok, _ := s.Sign(map[string]any{"aud": "demo", "exp": clk.Now().Add(48 * time.Hour).Unix()})
	if kid := decodeSegment(t, newTok, 0)["kid"]; kid != newKid {
		t.Errorf("new token kid = %v, want %v", kid, newKid)
	}
	if got := kids(s.JWKS()); len(got) != 2 || got[0] != newKid || got[1] != oldKid {
		t.Errorf("JWKS kids = %v, want [%s %s]", got, newKid, oldKid)
	}
	for _, tok := range []string{oldTok, newTok} {
		if _, err := s.Verify(tok, "demo", clk.Now()); err != nil {
			t.Errorf("during overlap: %v", err)
		}
	}

	clk.Add(DefaultOverlap) // the old key's overlap has ended
	if got := kids(s.JWKS()); len(got) != 1 || got[0] != newKid {
		t.Errorf("JWKS kids after overlap = %v, want [%s]", got, newKid)
	}
	if _, err := s.Verify(oldTok, "demo", clk.Now()); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old token after overlap: %v, want ErrUnknownKey", err)
	}
	if _, err := s.Verify(newTok, "demo", clk.Now()); err != nil {
		t.Errorf("new token after overlap: %v", err)
	}

	// The next write prunes the expired key from the store.
	if err := s.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(storedSetOf(t, s.store).Keys); n != 2 {
		t.Errorf("stored keys after prune = %d, want 2", n)
	}
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

func storedSetOf(t *testing.T, store KeyStore) storedSet {
	t.Helper()
	data, _, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var set storedSet
	if err := json.Unmarshal(data, &set); err != nil {
		t.Fatal(err)
	}
	return set
}

func TestRotateIfDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{now: time.Unix(1700000000, 0)}
	store := NewMemoryKeyStore()
	box := newBox(t)
	a, b := newSigner(t, store, box, clk), newSigner(t, store, box, clk)
	if rotated, err := a.RotateIfDue(ctx); err != nil || rotated {
		t.Fatalf("fresh key: RotateIfDue = %v, %v", rotated, err)
	}
	clk.Add(DefaultRotateEvery)
	ra, err := a.RotateIfDue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.RotateIfDue(ctx) // sees a's rotation: not due
	if err != nil {
		t.Fatal(err)
	}
	if !ra || rb {
		t.Errorf("rotated = %v, %v; want true, false", ra, rb)
	}
	if a.ActiveKeyID() != b.ActiveKeyID() {
		t.Error("replicas disagree on the active key")
	}
}

func TestRefreshPicksUpRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{now: time.Unix(1700000000, 0)}
	store := NewMemoryKeyStore()
	box := newBox(t)
	a, b := newSigner(t, store, box, clk), newSigner(t, store, box, clk)
	if err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	tok, _ := a.Sign(map[string]any{"aud": "demo", "exp": clk.Now().Add(time.Minute).Unix()})
	if _, err := b.Verify(tok, "demo", clk.Now()); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("before Refresh: %v, want ErrUnknownKey", err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(tok, "demo", clk.Now()); err != nil {
		t.Fatalf("after Refresh: %v", err)
	}
	if a.ActiveKeyID() != b.ActiveKeyID() {
		t.Error("replicas disagree on the active key")
	}
}

func TestSignersConvergeOnOneKey(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1700000000, 0)}
	store := NewMemoryKeyStore()
	box := newBox(t)
	const n = 8
	signers := make([]*Signer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			signers[i], errs[i] = NewSigner(context.Background(), store, box, SignerOptions{Issuer: testIssuer, Now: clk.Now, Algorithm: AlgES256})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("signer %d: %v", i, errs[i])
		}
		if signers[i].ActiveKeyID() != signers[0].ActiveKeyID() {
			t.Fatalf("signer %d has key %s, signer 0 has %s", i, signers[i].ActiveKeyID(), signers[0].ActiveKeyID())
		}
	}
	if keys := storedSetOf(t, store).Keys; len(keys) != 1 {
		t.Fatalf("store holds %d keys, want 1", len(keys))
	}
	tok, _ := signers[3].Sign(map[string]any{"aud": "demo", "exp": clk.Now().Add(time.Minute).Unix()})
	if _, err := signers[5].Verify(tok, "demo", clk.Now()); err != nil {
		t.Fatal(err)
	}
}

// raceStore lets another replica write between a Load and the Save.
type raceStore struct {
	*MemoryKeyStore
	once   sync.Once
	before func()
}

func (r *raceStore) Save(ctx context.Context, data []byte, rev uint64) error {
	r.once.Do(r.before)
	return r.MemoryKeyStore.Save(ctx, data, rev)
}

func TestNewSignerReloadsOnConflict(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1700000000, 0)}
	box := newBox(t)
	mem := NewMemoryKeyStore()
	var winner *Signer
	store := &raceStore{MemoryKeyStore: mem, before: func() { winner = newSigner(t, mem, box, clk) }}
	loser := newSigner(t, store, box, clk)
	if loser.ActiveKeyID() != winner.ActiveKeyID() {
		t.Fatal("the replica that lost the race did not adopt the stored key")
	}
}

func TestStoredKeysAreSealed(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1700000000, 0)}
	store := NewMemoryKeyStore()
	box := newBox(t)
	s := newSigner(t, store, box, clk)
	if err := s.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, _, _ := store.Load(context.Background())
	for _, k := range s.keys {
		priv, _ := json.Marshal(jose.JSONWebKey{Key: k.Private})
		var jwk struct{ D string }
		_ = json.Unmarshal(priv, &jwk)
		if jwk.D == "" {
			t.Fatal("test bug: no d parameter")
		}
		d := k.Private.D.FillBytes(make([]byte, 32))
		for _, form := range []string{jwk.D, base64.StdEncoding.EncodeToString(d), new(big.Int).SetBytes(d).Text(16), string(d)} {
			if strings.Contains(string(data), form) {
				t.Fatalf("stored key set contains the private key of %s", k.ID)
			}
		}
	}
	for _, sk := range storedSetOf(t, store).Keys {
		if !strings.HasPrefix(sk.Sealed, "v1:") {
			t.Errorf("key %s not sealed: %q", sk.ID, sk.Sealed)
		}
	}
	// Another master key cannot load the set.
	if _, err := NewSigner(context.Background(), store, newBox(t), SignerOptions{Issuer: testIssuer}); !errors.Is(err, secrets.ErrTampered) {
		t.Errorf("NewSigner with another master key: %v, want ErrTampered", err)
	}
	// JWKS holds public keys only.
	out, _ := json.Marshal(s.JWKS())
	if strings.Contains(string(out), `"d"`) {
		t.Errorf("JWKS contains a private key: %s", out)
	}
}

func TestStoredKidMustMatchKey(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1700000000, 0)}
	store := NewMemoryKeyStore()
	box := newBox(t)
	newSigner(t, store, box, clk)
	set := storedSetOf(t, store)
	set.Keys[0].ID = "someone-else"
	data, _ := json.Marshal(set)
	if err := store.Save(context.Background(), data, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSigner(context.Background(), store, box, SignerOptions{Issuer: testIssuer}); err == nil {
		t.Fatal("NewSigner accepted a key whose kid is not its thumbprint")
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1700000000, 0)}
	s := newSigner(t, NewMemoryKeyStore(), newBox(t), clk)
	out, err := json.Marshal(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 1 {
		t.Fatalf("JWKS = %s", out)
	}
	k := doc.Keys[0]
	for name, want := range map[string]any{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": s.ActiveKeyID()} {
		if k[name] != want {
			t.Errorf("JWKS %s = %v, want %v", name, k[name], want)
		}
	}
	// kid is the RFC 7638 thumbprint.
	x, y := k["x"].(string), k["y"].(string)
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); k["kid"] != want {
		t.Errorf("kid = %v, want thumbprint %s", k["kid"], want)
	}
}

func TestSignerOptionsValidate(t *testing.T) {
	t.Parallel()
	for _, iss := range []string{"", "id.example.com", "ftp://x", "https://x/?q=1", "https://x/#f", "https://"} {
		if _, err := NewSigner(context.Background(), NewMemoryKeyStore(), newBox(t), SignerOptions{Issuer: iss}); err == nil {
			t.Errorf("issuer %q: want error", iss)
		}
	}
	err := SignerOptions{Issuer: "", Overlap: -1, RotateEvery: -1}.Validate()
	if err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("Validate should report all three problems, got %v", err)
	}
}

// A standard OIDC client library verifies Bindery's tokens against JWKS().
func TestGoOIDCVerifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := NewSigner(ctx, NewMemoryKeyStore(), newBox(t), SignerOptions{Issuer: testIssuer, Algorithm: AlgES256})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.JWKS())
	}))
	defer srv.Close()

	now := time.Now()
	tok, err := s.Sign(map[string]any{"sub": "acct-1", "aud": "demo", "iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	keySet := oidc.NewRemoteKeySet(ctx, srv.URL)
	if _, err := keySet.VerifySignature(ctx, tok); err != nil {
		t.Fatalf("VerifySignature: %v", err)
	}
	v := oidc.NewVerifier(testIssuer, keySet, &oidc.Config{ClientID: "demo", SupportedSigningAlgs: []string{oidc.ES256}})
	idt, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("oidc Verify: %v", err)
	}
	if idt.Subject != "acct-1" || idt.Issuer != testIssuer {
		t.Errorf("id token = %+v", idt)
	}
	if _, err := oidc.NewVerifier(testIssuer, keySet, &oidc.Config{ClientID: "other"}).Verify(ctx, tok); err == nil {
		t.Error("go-oidc accepted the token for another client")
	}

	// After a rotation the client finds the new key by refetching JWKS.
	if err := s.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	tok2, _ := s.Sign(map[string]any{"sub": "acct-1", "aud": "demo", "iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix()})
	if _, err := v.Verify(ctx, tok2); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("old token after rotation: %v", err)
	}
}

func TestMemoryKeyStoreCAS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := NewMemoryKeyStore()
	if _, _, err := m.Load(ctx); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("empty Load: %v", err)
	}
	if err := m.Save(ctx, []byte("a"), 1); !errors.Is(err, ErrRevisionMismatch) {
		t.Fatalf("Save rev 1 on empty: %v", err)
	}
	if err := m.Save(ctx, []byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(ctx, []byte("b"), 0); !errors.Is(err, ErrRevisionMismatch) {
		t.Fatalf("create twice: %v", err)
	}
	data, rev, err := m.Load(ctx)
	if err != nil || string(data) != "a" || rev != 1 {
		t.Fatalf("Load = %q, %d, %v", data, rev, err)
	}
	if err := m.Save(ctx, []byte("b"), rev); err != nil {
		t.Fatal(err)
	}
}
