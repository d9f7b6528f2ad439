package browsersession

import "time"

// Live says whether the session still speaks for accountID at now: it
// exists for that account and has neither ended (logout, an administrator)
// nor expired. The tokens signed in through it ask this, without a cookie.
func (s *Session) Live(accountID string, now time.Time) error {
	if !s.exists || s.ended || s.accountID != accountID || !now.Before(s.expiresAt) {
		return ErrNoSession
	}
	return nil
}
