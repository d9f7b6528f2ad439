package tokens

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func invalid(detail string) error { return fmt.Errorf("%w: %s", ErrInvalidToken, detail) }

// checkHeader allows exactly the header Sign (or SignAccessToken) writes:
// alg, kid, and typ, which must be typ.
func checkHeader(sig jose.Signature, typ string) error {
	h := sig.Protected
	if sig.Unprotected.KeyID != "" || sig.Unprotected.JSONWebKey != nil || len(sig.Unprotected.ExtraHeaders) > 0 {
		return invalid("unprotected header")
	}
	if !knownAlg(h.Algorithm) {
		return invalid("algorithm not allowed")
	}
	if h.KeyID == "" {
		return invalid("missing kid")
	}
	if h.JSONWebKey != nil || h.Nonce != "" {
		return invalid("unexpected header parameter")
	}
	if _, err := h.Certificates(x509.VerifyOptions{}); !errors.Is(err, jose.ErrMissingX5cHeader) {
		return invalid("unexpected header parameter x5c")
	}
	for name := range h.ExtraHeaders {
		if name != jose.HeaderType {
			return invalid(fmt.Sprintf("unexpected header parameter %q", string(name)))
		}
	}
	if got, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(got, typ) {
		return invalid("typ must be " + typ)
	}
	return nil
}

func (s *Signer) checkClaims(c map[string]any, audience string, now time.Time) error {
	if iss, _ := c["iss"].(string); iss != s.opts.Issuer {
		return invalid("wrong issuer")
	}
	aud, ok := audiences(c["aud"])
	if !ok {
		return invalid("malformed aud")
	}
	if audience != "" && !slices.Contains(aud, audience) {
		return invalid("wrong audience")
	}
	exp, ok, err := numericDate(c, "exp")
	if err != nil || !ok {
		return invalid("missing or malformed exp")
	}
	if !now.Before(exp.Add(Leeway)) {
		return fmt.Errorf("%w: %w", ErrInvalidToken, ErrExpired)
	}
	if nbf, ok, err := numericDate(c, "nbf"); err != nil {
		return invalid("malformed nbf")
	} else if ok && nbf.After(now.Add(Leeway)) {
		return invalid("not valid yet")
	}
	if iat, ok, err := numericDate(c, "iat"); err != nil {
		return invalid("malformed iat")
	} else if ok && (iat.After(now.Add(Leeway)) || iat.After(exp)) {
		return invalid("iat in the future or after exp")
	}
	return nil
}

// audiences reads aud, a string or an array of strings; absent is empty.
func audiences(v any) ([]string, bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case string:
		return []string{v}, true
	case []any:
		out := make([]string, 0, len(v))
		for _, a := range v {
			s, ok := a.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// numericDate reads an RFC 7519 NumericDate claim.
func numericDate(c map[string]any, name string) (time.Time, bool, error) {
	v, present := c[name]
	if !present {
		return time.Time{}, false, nil
	}
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}, true, fmt.Errorf("%s is not a NumericDate", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}
