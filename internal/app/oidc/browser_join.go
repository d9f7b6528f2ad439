package oidc

import (
	"context"

	"github.com/bindery/bindery/domain/browsersession"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// Join records that clientID signs in through browser session id (single
// sign-on), so that ending the session tells that client too.
func (s *BrowserSessions) Join(ctx context.Context, meta events.Meta, id, clientID string) error {
	_, _, err := s.Repo.Update(ctx, id, withTime(meta, s.Now(), "anonymous"), func(bs *browsersession.Session) (events.Decision, error) {
		evs, err := bs.Join(clientID)
		return events.Decision{Events: evs}, err
	})
	return usecase.Translate(err)
}
