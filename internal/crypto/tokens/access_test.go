package tokens

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Access tokens say typ at+jwt (RFC 9068) and id_tokens typ JWT: each
// verifier takes only its own kind, and an expired access token fails.
func TestAccessTokenType(t *testing.T) {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	s := newSigner(t, NewMemoryKeyStore(), newBox(t), clk)
	at, err := s.SignAccessToken(claimsAt(clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(at, ".")[0])
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil || h["typ"] != "at+jwt" || h["kid"] == nil {
		t.Fatalf("header %s", raw)
	}
	if c, err := s.VerifyAccessToken(at, "demo", clk.Now()); err != nil || c["sub"] != "acct-1" {
		t.Fatalf("verify access token: %v %v", c, err)
	}
	if _, err := s.Verify(at, "demo", clk.Now()); err == nil {
		t.Fatal("an access token passed as an id_token")
	}
	idt, err := s.Sign(claimsAt(clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyAccessToken(idt, "demo", clk.Now()); err == nil {
		t.Fatal("an id_token passed as an access token")
	}
	if _, err := s.VerifyAccessToken(at, "demo", clk.Now().Add(16*time.Minute+Leeway)); err == nil {
		t.Fatal("an expired access token passed")
	}
}
