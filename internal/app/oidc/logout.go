package oidc

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/browsersession"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// LogoutReason is the reason browser_session_ended records for
// RP-initiated logout.
const LogoutReason = "logout"

// Logout is an RP-initiated logout: the browser's session cookie (""
// without one) and, from a verified id_token_hint, its sid and subject.
type Logout struct {
	Cookie               string
	HintSID, HintSubject string
}

// End ends the browser session of a logout: the one the cookie opens, or,
// without a live cookie, the hint's session when the hint's subject owns it
// (the web app proved it by the id_token it holds). ended reports whether a
// session ended; none to end is no error, the browser is signed out either
// way. browser_session_ended names the clients to tell (back-channel).
func (s *BrowserSessions) End(ctx context.Context, meta events.Meta, in Logout) (ended bool, _ error) {
	id := ""
	if in.Cookie != "" {
		if bs, err := s.Find(ctx, in.Cookie); err == nil {
			id = bs.ID()
		}
	}
	if id == "" && uuid.Validate(in.HintSID) == nil {
		bs, _, err := s.Repo.Get(ctx, in.HintSID)
		if err != nil {
			return false, err
		}
		if bs.EndableBy(in.HintSubject) {
			id = bs.ID()
		}
	}
	if id == "" {
		return false, nil
	}
	_, _, err := s.Repo.Update(ctx, id, withTime(meta, s.Now(), "anonymous"), func(bs *browsersession.Session) (events.Decision, error) {
		evs, err := bs.End(LogoutReason)
		return events.Decision{Events: evs}, err
	})
	if errors.Is(err, browsersession.ErrNoSession) {
		return false, nil // ended meanwhile (another tab, another replica)
	}
	if err != nil {
		return false, usecase.Translate(err)
	}
	return true, nil
}
