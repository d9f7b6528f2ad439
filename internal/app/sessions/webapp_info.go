package sessions

import (
	"context"
	"time"

	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// WebAppTokenInfo answers, for introspection (RFC 7662), the family of a
// web app's current refresh token and when that token expires, decided on
// the family as the store holds it now, so that a rotation or revocation
// on any replica holds here at once. A rotated, revoked or expired token,
// or one Bindery does not know, is session.ErrInvalid. Unlike WebAppToken
// it records nothing: looking at a rotated token is not using it.
func (s *Service) WebAppTokenInfo(ctx context.Context, refreshToken string) (WebAppFamily, time.Time, error) {
	s.init()
	fam, ok := parseToken(refreshToken)
	if !ok {
		return WebAppFamily{}, time.Time{}, session.ErrInvalid
	}
	st, _, err := s.Repo.Refresh(ctx, fam)
	if err != nil {
		return WebAppFamily{}, time.Time{}, err
	}
	if !st.WebAppFamily() {
		return WebAppFamily{}, time.Time{}, session.ErrInvalid
	}
	if err := st.AuthenticateClient(st.WebApp().ClientID, tokens.HashToken(refreshToken), s.now()); err != nil {
		return WebAppFamily{}, time.Time{}, session.ErrInvalid
	}
	return familyOf(st), st.ExpiresAt(), nil
}
