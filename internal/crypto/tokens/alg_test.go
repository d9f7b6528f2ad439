package tokens

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

func edSigner(t *testing.T, store KeyStore, clk *clock, alg string) *Signer {
	t.Helper()
	s, err := NewSigner(context.Background(), store, newBox(t), SignerOptions{Issuer: testIssuer, Now: clk.Now, Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// EdDSA is the default: tokens say alg EdDSA, JWKS publishes an OKP key,
// and a standard OIDC client verifies them.
func TestEdDSADefault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := NewSigner(ctx, NewMemoryKeyStore(), newBox(t), SignerOptions{Issuer: testIssuer})
	if err != nil {
		t.Fatal(err)
	}
	if s.Algorithm() != AlgEdDSA || s.active.Alg != AlgEdDSA || s.active.Ed25519 == nil {
		t.Fatalf("default algorithm %s", s.Algorithm())
	}
	now := time.Now()
	tok, err := s.Sign(map[string]any{"sub": "acct-1", "aud": "demo", "iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if h := decodeSegment(t, tok, 0); h["alg"] != "EdDSA" || h["kid"] != s.ActiveKeyID() || h["typ"] != "JWT" {
		t.Fatalf("header %v", h)
	}
	// Deterministic: the same claims give the same token.
	if again, _ := s.Sign(map[string]any{"sub": "acct-1", "aud": "demo", "iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix()}); again != tok {
		t.Fatal("EdDSA signature not deterministic")
	}
	if c, err := s.Verify(tok, "demo", now); err != nil || c["sub"] != "acct-1" {
		t.Fatalf("Verify: %v %v", c, err)
	}
	out, _ := json.Marshal(s.JWKS())
	var doc struct{ Keys []map[string]any }
	_ = json.Unmarshal(out, &doc)
	if len(doc.Keys) != 1 || doc.Keys[0]["kty"] != "OKP" || doc.Keys[0]["crv"] != "Ed25519" || doc.Keys[0]["alg"] != "EdDSA" || doc.Keys[0]["d"] != nil {
		t.Fatalf("JWKS %s", out)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(s.JWKS())
	}))
	defer srv.Close()
	v := oidc.NewVerifier(testIssuer, oidc.NewRemoteKeySet(ctx, srv.URL), &oidc.Config{ClientID: "demo", SupportedSigningAlgs: []string{oidc.EdDSA}})
	if idt, err := v.Verify(ctx, tok); err != nil || idt.Subject != "acct-1" {
		t.Fatalf("go-oidc: %v %v", idt, err)
	}
	// A flipped bit of the signature is refused.
	parts := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[10] ^= 1
	if _, err := s.Verify(parts[0]+"."+parts[1]+"."+base64.RawURLEncoding.EncodeToString(sig), "demo", now); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("tampered EdDSA signature: %v", err)
	}
}

// highS returns tok with its ES256 signature's s replaced by n−s: the
// malleated twin of issue 13, finding 3.
func highS(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature %v", err)
	}
	s := new(big.Int).SetBytes(sig[32:])
	new(big.Int).Sub(p256N, s).FillBytes(sig[32:])
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// ES256 signatures are made low-S, and the high-S twin of a valid token
// (which verifies as plain ECDSA) is refused.
func TestES256LowS(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1700000000, 0)}
	s := edSigner(t, NewMemoryKeyStore(), clk, AlgES256)
	for i := 0; i < 40; i++ {
		c := claimsAt(clk.Now())
		c["n"] = i
		tok, err := s.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		if h := decodeSegment(t, tok, 0); h["alg"] != "ES256" {
			t.Fatalf("header %v", h)
		}
		if _, err := s.Verify(tok, "demo", clk.Now()); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		twin := highS(t, tok)
		if _, err := s.Verify(twin, "demo", clk.Now()); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "low-S") {
			t.Fatalf("high-S twin of token %d: %v", i, err)
		}
	}
}

// A token may only use the algorithm of the key its kid names.
func TestAlgorithmMustMatchKey(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1700000000, 0)}
	ed := edSigner(t, NewMemoryKeyStore(), clk, AlgEdDSA)
	kid := ed.ActiveKeyID()
	forged := forge(map[string]any{"alg": "ES256", "typ": "JWT", "kid": kid}, func() map[string]any {
		c := claimsAt(clk.Now())
		c["iss"] = testIssuer
		return c
	}(), func(in []byte) []byte { return ed25519.Sign(ed.active.Ed25519, in) })
	if _, err := ed.Verify(forged, "demo", clk.Now()); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("ES256 label on an EdDSA key: %v", err)
	}
}

// Changing the algorithm rotates: the new key signs, the old one stays
// published and accepted for the overlap, and its keys survive the store.
func TestAlgorithmChangeRotates(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(1700000000, 0)}
	store := NewMemoryKeyStore()
	box := newBox(t)
	old, err := NewSigner(context.Background(), store, box, SignerOptions{Issuer: testIssuer, Now: clk.Now, Algorithm: AlgES256})
	if err != nil {
		t.Fatal(err)
	}
	oldTok, _ := old.Sign(claimsAt(clk.Now()))
	clk.Add(time.Minute)
	s, err := NewSigner(context.Background(), store, box, SignerOptions{Issuer: testIssuer, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if s.active.Alg != AlgEdDSA || s.ActiveKeyID() == old.ActiveKeyID() || len(s.JWKS().Keys) != 2 {
		t.Fatalf("after the change: %s, %d keys", s.active.Alg, len(s.JWKS().Keys))
	}
	if _, err := s.Verify(oldTok, "demo", clk.Now()); err != nil {
		t.Fatalf("old ES256 token: %v", err)
	}
	newTok, _ := s.Sign(claimsAt(clk.Now()))
	if decodeSegment(t, newTok, 0)["alg"] != "EdDSA" {
		t.Fatal("new tokens are not EdDSA")
	}
	// Reloaded from the store (sealed), both keys are back.
	again, err := NewSigner(context.Background(), store, box, SignerOptions{Issuer: testIssuer, Now: clk.Now})
	if err != nil || again.ActiveKeyID() != s.ActiveKeyID() || len(again.keys) != 2 {
		t.Fatalf("reload: %v", err)
	}
	if _, err := again.Verify(newTok, "demo", clk.Now()); err != nil {
		t.Fatalf("reloaded verify: %v", err)
	}
	if err := (SignerOptions{Issuer: testIssuer, Algorithm: "RS256"}).Validate(); err == nil {
		t.Fatal("RS256 accepted")
	}
}
