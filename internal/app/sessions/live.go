package sessions

import (
	"context"

	"github.com/bindery/bindery/domain/session"
)

// AccountGate says, from the store rather than a view, whether an account
// may act now: nil, account.ErrDisabled, account.ErrErased or
// account.ErrNotFound (accounts.Service.CanAct).
type AccountGate interface {
	CanAct(ctx context.Context, accountID string) error
}

// Live reports whether the session family sid still speaks for accountID:
// the account may act (account.ErrDisabled or ErrErased otherwise) and the
// session exists for that account, is neither revoked (logout, reuse detection, a disabled
// account) nor expired (session.ErrInvalid otherwise). Both are decided on
// the aggregates as the store holds them, never on views that may lag, so a
// session ended on any replica stops its id_tokens on every replica at once.
// The account goes first: a disabled account's tokens say so, whatever
// became of their session.
func (s *Service) Live(ctx context.Context, sid, accountID string) error {
	s.init()
	if s.Gate != nil {
		if err := s.Gate.CanAct(ctx, accountID); err != nil {
			return err
		}
	}
	st, _, err := s.Repo.Refresh(ctx, sid)
	if err != nil {
		return err
	}
	if !st.Exists() || st.AccountID() != accountID {
		return session.ErrInvalid
	}
	if revoked, _ := st.Revoked(); revoked || !s.now().Before(st.ExpiresAt()) {
		return session.ErrInvalid
	}
	return nil
}
