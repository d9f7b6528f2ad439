package tokens

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The EdDSA tokens made without go-jose's signer are JWS that go-jose
// parses and verifies, with the header go-jose's signer would have set.
func TestEdJWSIsAJWSGoJoseVerifies(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newEdJWS(priv, "key-1", typAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"sub":"acc_1","exp":1800000000}`)
	compact, err := s.sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("go-jose cannot parse %q: %v", compact, err)
	}
	got, err := jws.Verify(pub)
	if err != nil {
		t.Fatalf("go-jose does not verify it: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("payload = %s, want %s", got, payload)
	}
	h := jws.Signatures[0].Protected
	if h.Algorithm != AlgEdDSA || h.KeyID != "key-1" || h.ExtraHeaders[jose.HeaderType] != typAccessToken {
		t.Errorf("header = alg %q kid %q typ %v, want EdDSA, key-1, %s", h.Algorithm, h.KeyID, h.ExtraHeaders[jose.HeaderType], typAccessToken)
	}

	// Another payload under the same signature does not verify.
	parts := strings.Split(compact, ".")
	forged := parts[0] + "." + strings.TrimSuffix(parts[1], parts[1][len(parts[1])-2:]) + "xx." + parts[2]
	if jws, err := jose.ParseSigned(forged, []jose.SignatureAlgorithm{jose.EdDSA}); err == nil {
		if _, err := jws.Verify(pub); err == nil {
			t.Error("a changed payload verifies")
		}
	}
}

func TestEdJWSRefusesAKeyOfTheWrongSize(t *testing.T) {
	if _, err := newEdJWS(ed25519.PrivateKey(make([]byte, 31)), "k", typJWT); err == nil {
		t.Error("a 31-byte key was taken")
	}
}

// BenchmarkSignIDToken signs a login's id_token claims (go test -run '^$'
// -bench SignIDToken -benchmem ./internal/crypto/tokens).
func BenchmarkSignIDToken(b *testing.B) {
	for _, alg := range []string{AlgEdDSA, AlgES256} {
		b.Run(alg, func(b *testing.B) {
			s, err := NewSigner(b.Context(), NewMemoryKeyStore(), newBox(b), SignerOptions{Issuer: testIssuer, Algorithm: alg})
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			claims := map[string]any{"sub": "acc_0123456789", "aud": "app_demo", "iat": now, "exp": now.Add(time.Hour),
				"auth_time": now, "sid": "ses_0123456789abcdef", "amr": []string{"wechat"}, "name": "Li Lei"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
