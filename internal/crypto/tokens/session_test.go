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
