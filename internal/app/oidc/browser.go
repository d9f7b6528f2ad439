package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/browsersession"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// BrowserSessions starts and finds the browser sessions behind single
// sign-on. The cookie is "<session id>.<random>"; only its hash is stored.
type BrowserSessions struct {
	Repo *events.Repository[*browsersession.Session]
	Now  func() time.Time
}

// NewBrowserSessions wires the use cases to a store.
func NewBrowserSessions(store events.Store, now func() time.Time) *BrowserSessions {
	if now == nil {
		now = time.Now
	}
	return &BrowserSessions{Repo: events.NewRepository(store, events.AggregateBrowserSession, browsersession.New, 10000), Now: now}
}

// Start records a new browser session, signed in to clientID, and answers
// its cookie value and id.
func (s *BrowserSessions) Start(ctx context.Context, meta events.Meta, accountID, clientID string, amr []string, authTime time.Time) (string, string, error) {
	id := uuid.NewString()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	cookie := id + "." + base64.RawURLEncoding.EncodeToString(b)
	_, _, err := s.Repo.Update(ctx, id, withTime(meta, s.Now(), accountID), func(bs *browsersession.Session) (events.Decision, error) {
		evs, err := bs.Start(accountID, clientID, amr, authTime, tokens.HashToken(cookie))
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return "", "", usecase.Translate(err)
	}
	return cookie, id, nil
}

// Find answers the live browser session a cookie opens.
func (s *BrowserSessions) Find(ctx context.Context, cookie string) (*browsersession.Session, error) {
	id, _, ok := strings.Cut(cookie, ".")
	if !ok || uuid.Validate(id) != nil {
		return nil, browsersession.ErrNoSession
	}
	bs, _, err := s.Repo.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := bs.Check(tokens.HashToken(cookie), s.Now()); err != nil {
		s.Repo.Forget(id)
		return nil, err
	}
	return bs, nil
}
