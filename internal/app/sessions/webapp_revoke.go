package sessions

import (
	"context"
	"errors"

	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// RevokeWebApp ends the family of a web app's refresh token at the
// revocation endpoint (RFC 7009), for clientID: found reports whether the
// token was one of a family at all (a caller tries other kinds of token
// when not). Another client's token is session.ErrOtherClient; revoking
// twice is no error.
func (s *Service) RevokeWebApp(ctx context.Context, meta events.Meta, refreshToken, clientID string) (found bool, _ error) {
	s.init()
	fam, ok := parseToken(refreshToken)
	if !ok {
		return false, nil
	}
	hash := tokens.HashToken(refreshToken)
	_, err := s.update(ctx, meta, fam, func(st *session.Session) (events.Decision, error) {
		evs, err := st.RevokeByClient(clientID, hash)
		return events.Decision{Events: evs}, err
	})
	if errors.Is(err, session.ErrInvalid) {
		return false, nil
	}
	return err == nil || errors.Is(err, session.ErrOtherClient), err
}

// RevokeFamily ends family id for reason (code_reused); a family already
// revoked, or none, changes nothing.
func (s *Service) RevokeFamily(ctx context.Context, meta events.Meta, id, reason string) error {
	s.init()
	_, err := s.update(ctx, meta, id, func(st *session.Session) (events.Decision, error) {
		return events.Decision{Events: st.Revoke(reason)}, nil
	})
	return err
}
