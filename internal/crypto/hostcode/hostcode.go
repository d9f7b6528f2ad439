// Package hostcode mints and verifies the login codes that a host app issues
// to its mini programs in place of a WeChat js_code (apps of kind "host").
//
// A code is base64url(payload) + "." + base64url(HMAC-SHA256(secret, payload)),
// both parts unpadded, where payload is the JSON object
// {"uid": "<host user id>", "exp": <unix seconds>, "nonce": "<random>"}.
//
// This package checks the signature and the lifetime only. Codes are
// single-use, and enforcing that is the caller's job: after Verify succeeds,
// the caller must atomically record the code (keyed by app and Claims.Nonce,
// kept at least until Claims.Exp) and refuse one it has already seen.
package hostcode

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on codes and their claims.
const (
	MaxCodeLen  = 2048            // bytes; longer codes are rejected unread
	MaxLifetime = 5 * time.Minute // a code's exp is at most this far after now
	MaxUIDLen   = 256             // characters
	MinNonceLen = 8               // characters
	MaxNonceLen = 128             // characters
)

// Errors returned by Verify; compare with errors.Is.
var (
	ErrMalformed    = errors.New("hostcode: malformed code")
	ErrBadSignature = errors.New("hostcode: bad signature")
	ErrExpired      = errors.New("hostcode: code expired")
	ErrTooLong      = errors.New("hostcode: code lifetime exceeds 5 minutes")
)

// Claims are what a verified code proves.
type Claims struct {
	UID   string    // the host's user id
	Exp   time.Time // expiry, whole seconds, UTC
	Nonce string    // the host's random nonce; the key for single use
}

// Mint returns a code for uid expiring at exp (truncated to whole seconds)
// signed with secret. It is what a host app does; Bindery uses it in tests,
// the simulator and the demo.
func Mint(secret []byte, uid string, exp time.Time, nonce string) string {
	p := marshal(uid, exp.Unix(), nonce)
	return base64.RawURLEncoding.EncodeToString(p) + "." + base64.RawURLEncoding.EncodeToString(sign(secret, p))
}

// NewNonce returns a random nonce (128 bits, base64url) suitable for Mint.
func NewNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// Verify checks code against secret at time now and returns its claims.
//
// The signature is compared in constant time before the payload is parsed.
// Errors wrap ErrMalformed (wrong shape, encoding or claims), ErrBadSignature,
// ErrExpired (now is at or after exp) or ErrTooLong (exp is more than
// MaxLifetime after now). Verify does not enforce single use: see the package
// documentation.
func Verify(secret []byte, code string, now time.Time) (Claims, error) {
	if len(code) > MaxCodeLen {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxCodeLen)
	}
	enc, encSig, ok := strings.Cut(code, ".")
	if !ok || strings.Contains(encSig, ".") {
		return Claims{}, fmt.Errorf("%w: want exactly one '.'", ErrMalformed)
	}
	// Strict decoding makes the encoding canonical: one payload, one code.
	b64 := base64.RawURLEncoding.Strict()
	raw, err := b64.DecodeString(enc)
	if err != nil || len(raw) == 0 {
		return Claims{}, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	sig, err := b64.DecodeString(encSig)
	if err != nil || len(sig) != sha256.Size {
		return Claims{}, fmt.Errorf("%w: signature is not a base64url HMAC-SHA256", ErrMalformed)
	}
	if !hmac.Equal(sig, sign(secret, raw)) {
		return Claims{}, ErrBadSignature
	}

	if !utf8.Valid(raw) {
		return Claims{}, fmt.Errorf("%w: payload is not UTF-8", ErrMalformed)
	}
	c, err := parse(raw)
	if err != nil {
		return Claims{}, err
	}
	if !now.Before(c.Exp) {
		return Claims{}, ErrExpired
	}
	if c.Exp.Sub(now) > MaxLifetime {
		return Claims{}, ErrTooLong
	}
	return c, nil
}

func parse(raw []byte) (Claims, error) {
	var p struct {
		UID   *string         `json:"uid"`
		Exp   json.RawMessage `json:"exp"`
		Nonce *string         `json:"nonce"`
	}
	if err := json.Unmarshal(raw, &p); err != nil { // also refuses trailing data
		return Claims{}, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	switch {
	case p.UID == nil || p.Exp == nil || p.Nonce == nil:
		return Claims{}, fmt.Errorf("%w: uid, exp and nonce are required", ErrMalformed)
	case !inRange(*p.UID, 1, MaxUIDLen):
		return Claims{}, fmt.Errorf("%w: uid must be 1..%d characters", ErrMalformed, MaxUIDLen)
	case !inRange(*p.Nonce, MinNonceLen, MaxNonceLen):
		return Claims{}, fmt.Errorf("%w: nonce must be %d..%d characters", ErrMalformed, MinNonceLen, MaxNonceLen)
	}
	// The raw literal, so a quoted "123" (which json.Number accepts) is refused.
	exp, err := strconv.ParseInt(string(p.Exp), 10, 64)
	if err != nil || exp <= 0 {
		return Claims{}, fmt.Errorf("%w: exp must be a positive integer of unix seconds", ErrMalformed)
	}
	return Claims{UID: *p.UID, Exp: time.Unix(exp, 0).UTC(), Nonce: *p.Nonce}, nil
}

// marshal writes the payload as compact JSON, escaping only what JSON
// requires, so a re-minted code is never longer than any valid encoding of
// the same claims (encoding/json would expand '<' or U+2028 six-fold).
func marshal(uid string, exp int64, nonce string) []byte {
	b := make([]byte, 0, len(uid)+len(nonce)+48)
	b = append(b, `{"uid":`...)
	b = appendString(b, uid)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, exp, 10)
	b = append(b, `,"nonce":`...)
	b = appendString(b, nonce)
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s { // invalid UTF-8 becomes U+FFFD, as encoding/json does
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

func inRange(s string, lo, hi int) bool {
	n := utf8.RuneCountInString(s)
	return lo <= n && n <= hi
}

func sign(secret, payload []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(payload)
	return m.Sum(nil)
}
