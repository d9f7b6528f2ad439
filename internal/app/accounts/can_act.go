package accounts

import "context"

// CanAct answers whether the account may log in or act now, decided on its
// aggregate refreshed from the store (one subject-index lookup when cached).
func (s *Service) CanAct(ctx context.Context, accountID string) error {
	st, _, err := s.Repo.Refresh(ctx, accountID)
	if err != nil {
		return err
	}
	return st.CanLogIn()
}
