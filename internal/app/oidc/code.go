package oidc

import (
	"context"
	"crypto/hmac"
	"errors"
	"strings"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/events"
)

// ByCode loads the granted request a code belongs to, refusing (as
// invalid_grant) a forged, expired or already exchanged code. A second use
// of a code this provider made revokes what its exchange issued (RFC 6749
// §4.1.2): the access tokens and the family of refresh tokens.
func (s *Authorizations) ByCode(ctx context.Context, meta events.Meta, code string) (*authorization.Authorization, error) {
	id, mac, ok := strings.Cut(code, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.mac(id))) {
		return nil, authorization.ErrCodeInvalid
	}
	a, err := s.Get(ctx, id)
	if errors.Is(err, authorization.ErrNotFound) {
		return nil, authorization.ErrCodeInvalid
	}
	if err != nil {
		return nil, err
	}
	if a.State() == authorization.Granted {
		// The cache may predate an exchange made on another replica:
		// Exchange decides on fresh state when it appends.
		if err := a.CheckCode(s.Now()); err != nil {
			return nil, err
		}
		return a, nil
	}
	if a, _, err = s.Repo.Refresh(ctx, id); err != nil {
		return nil, err
	}
	if a.CodeReused() {
		if err := s.RevokeReusedCode(ctx, meta, id); err != nil {
			return nil, err
		}
		return nil, authorization.ErrCodeInvalid
	}
	if err := a.CheckCode(s.Now()); err != nil {
		return nil, err
	}
	return a, nil
}
