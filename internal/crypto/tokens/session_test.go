package tokens

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestNewSessionToken(t *testing.T) {
	t.Parallel()
	tok, hash := NewSessionToken("bst")
	prefix, rest, ok := strings.Cut(tok, ".")
	if !ok || prefix != "bst" {
		t.Fatalf("token %q lacks prefix", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) != 32 {
		t.Fatalf("token body %q: %d bytes, %v", rest, len(raw), err)
	}
	sum := sha256.Sum256([]byte(tok))
	if hash != hex.EncodeToString(sum[:]) || HashToken(tok) != hash {
		t.Fatalf("hash = %q", hash)
	}
	tok2, hash2 := NewSessionToken("bst")
	if tok2 == tok || hash2 == hash {
		t.Fatal("two tokens are equal")
	}
	if !HashEqual(hash, HashToken(tok)) || HashEqual(hash, hash2) || HashEqual(hash, "") {
		t.Fatal("HashEqual")
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	if algs := Discovery("https://id.example.com/")["id_token_signing_alg_values_supported"].([]string); len(algs) != 1 || algs[0] != "EdDSA" {
		t.Errorf("default algs = %v", algs)
	}
	d := Discovery("https://id.example.com/", "ES256")
	if d["issuer"] != "https://id.example.com/" {
		t.Errorf("issuer = %v", d["issuer"])
	}
	for name, want := range map[string]string{
		"jwks_uri":          "https://id.example.com/.well-known/jwks.json",
		"token_endpoint":    "https://id.example.com/oauth2/token",
		"userinfo_endpoint": "https://id.example.com/v1/userinfo",
	} {
		if d[name] != want {
			t.Errorf("%s = %v, want %s", name, d[name], want)
		}
	}
	if algs := d["id_token_signing_alg_values_supported"].([]string); len(algs) != 1 || algs[0] != "ES256" {
		t.Errorf("algs = %v", algs)
	}
}
