package oidcop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/bindery/bindery/domain/authorization"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// tokenCrypto is the library's Crypto. It makes the authorization codes
// (the request id with a MAC: Authorizations.Code, so no code is ever
// stored) and the access tokens: the library asks for an opaque bearer
// token of "<jti>:<sub>", and gets an RFC 9068 JWT (typ at+jwt) signed
// with the one key set, with the claims the storage prepared for that jti
// in the same request. Reading a token back verifies it.
type tokenCrypto struct {
	auth   *appoidc.Authorizations
	signer *tokens.Signer
	// prepared holds the claims of an access token between the storage
	// choosing its jti and the library asking for it, within one request.
	prepared *sync.Map
	// verified spares re-checking the signature of a token seen before.
	verified *verifiedTokens
}

// accessClaims are an access token's claims (RFC 9068 §2.2).
type accessClaims struct {
	Issuer   string    `json:"iss"`
	Subject  string    `json:"sub"`
	Audience []string  `json:"aud"`
	ClientID string    `json:"client_id"`
	Scope    string    `json:"scope"`
	JTI      string    `json:"jti"`
	IssuedAt time.Time `json:"-"`
	Expiry   time.Time `json:"-"`
	AuthTime time.Time `json:"-"`
}

func (c tokenCrypto) prepare(claims accessClaims) { c.prepared.Store(claims.JTI, claims) }

func (c tokenCrypto) Encrypt(s string) (string, error) {
	jti, sub, isToken := strings.Cut(s, ":")
	if !isToken {
		return c.auth.Code(s), nil
	}
	v, ok := c.prepared.LoadAndDelete(jti)
	if !ok {
		return "", errors.New("oidcop: no claims prepared for this access token")
	}
	ac := v.(accessClaims)
	if ac.Subject != sub {
		return "", errors.New("oidcop: access token subject mismatch")
	}
	claims := map[string]any{
		"iss": ac.Issuer, "sub": ac.Subject, "aud": ac.Audience, "client_id": ac.ClientID,
		"scope": ac.Scope, "jti": ac.JTI, "iat": ac.IssuedAt, "exp": ac.Expiry,
	}
	if !ac.AuthTime.IsZero() {
		claims["auth_time"] = ac.AuthTime
	}
	return c.signer.SignAccessToken(claims)
}

// Decrypt answers "<jti>:<sub>" of a valid access token, or the request id
// of a code. Anything else with one dot may be a refresh token: it answers
// refreshMarker + token + ":" + refreshSubject, which the introspection and
// revocation of the storage read as such (storage_tokens.go); the library
// asks Decrypt for nothing else.
func (c tokenCrypto) Decrypt(s string) (string, error) {
	if strings.Count(s, ".") == 2 {
		now := c.auth.Now()
		if e, ok := c.verified.get(s, now, func(kid string) bool { return c.signer.KeyPublished(kid, now) }); ok {
			return e.jti + ":" + e.sub, nil
		}
		claims, err := c.verify(s)
		if err != nil {
			return "", err
		}
		jti, _ := claims["jti"].(string)
		sub, _ := claims["sub"].(string)
		if jti == "" || sub == "" {
			return "", errors.New("oidcop: access token without jti or sub")
		}
		if exp, ok := claims["exp"].(float64); ok {
			c.verified.put(s, verifiedToken{jti: jti, sub: sub, kid: keyID(s), exp: time.Unix(int64(exp), 0)}, now)
		}
		return jti + ":" + sub, nil
	}
	id, _, ok := strings.Cut(s, ".")
	if !ok || strings.Contains(s, ":") {
		return "", errors.New("oidcop: not a token of this provider")
	}
	if c.auth.Code(id) != s {
		return refreshMarker + s + ":" + refreshSubject, nil
	}
	return id, nil
}

func (c tokenCrypto) verify(tok string) (map[string]any, error) {
	claims, err := c.signer.VerifyAccessToken(tok, "", c.auth.Now())
	if errors.Is(err, tokens.ErrUnknownKey) {
		// Signed by a key another replica rotated in: load the key set.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if rerr := c.signer.Refresh(ctx); rerr == nil {
			claims, err = c.signer.VerifyAccessToken(tok, "", c.auth.Now())
		}
	}
	return claims, err
}

// keyID is the kid in a compact JWS's header ("" when unreadable).
func keyID(tok string) string {
	head, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	var h struct {
		Kid string `json:"kid"`
	}
	if err != nil || json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Kid
}

type rawTokenKey struct{}

// withRawToken keeps the access token of a userinfo or introspection
// request in its context, for the claims the library does not pass on.
func withRawToken(ctx context.Context, tok string) context.Context {
	return context.WithValue(ctx, rawTokenKey{}, tok)
}

// tokenClaims are the claims of the request's access token; the library
// verified it (through Decrypt) before the storage is asked.
type tokenClaims struct {
	Scope    string   `json:"scope"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	AuthTime int64    `json:"auth_time"`
	Aud      []string `json:"aud"`
}

func rawClaims(ctx context.Context) (tokenClaims, bool) {
	tok, _ := ctx.Value(rawTokenKey{}).(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return tokenClaims{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c tokenClaims
	if err != nil || json.Unmarshal(b, &c) != nil {
		return tokenClaims{}, false
	}
	return c, true
}

// inactive is the refusal of a token that does not count (any more).
var inactive = authorization.ErrTokenInactive
