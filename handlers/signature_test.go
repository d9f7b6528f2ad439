package handlers_test

import (
	"crypto/elliptic"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// Issue 13, finding 3: replacing s by n−s in a valid ES256 id_token was
// accepted by /v1/userinfo. Now the twin is refused (and EdDSA, the
// default, has no such twin).
func TestUserinfoRefusesHighSTwin(t *testing.T) {
	env := testenv.Start(t, "", map[string]string{"BINDERY_ID_TOKEN_ALG": "ES256"})
	acc := sessionAccount(t, env, "malleable")
	iss := startSession(t, env, acc, time.Now())
	if r := env.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+iss.IDToken); r.Status != http.StatusOK {
		t.Fatalf("userinfo: %d %s", r.Status, r.Body)
	}
	parts := strings.Split(iss.IDToken, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature: %v", err)
	}
	n := elliptic.P256().Params().N
	new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:])).FillBytes(sig[32:])
	twin := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	wantProblem(t, env.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+twin), http.StatusUnauthorized, "invalid_token")

	d := env.Do("GET", "/.well-known/openid-configuration", nil)
	if algs, _ := d.Map(t)["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "ES256" {
		t.Fatalf("discovery: %s", d.Body)
	}
}

func TestEdDSAIsTheDefault(t *testing.T) {
	env := testenv.Start(t, "", nil)
	iss := startSession(t, env, sessionAccount(t, env, "edwards"), time.Now())
	h, _ := base64.RawURLEncoding.DecodeString(strings.Split(iss.IDToken, ".")[0])
	if !strings.Contains(string(h), `"alg":"EdDSA"`) {
		t.Fatalf("header %s", h)
	}
	if r := env.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+iss.IDToken); r.Status != http.StatusOK {
		t.Fatalf("userinfo: %d %s", r.Status, r.Body)
	}
	j := env.Do("GET", "/.well-known/jwks.json", nil)
	if !strings.Contains(string(j.Body), `"crv":"Ed25519"`) {
		t.Fatalf("jwks %s", j.Body)
	}
}
