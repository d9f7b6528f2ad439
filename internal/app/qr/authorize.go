package qr

import (
	"time"

	"context"
	"errors"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// StartFor opens a QR login for app bound to the OIDC authorization
// request authorizationID of clientID: the hosted login page shows it, and
// its confirmation completes that request instead of handing out tokens.
func (s *Service) StartFor(ctx context.Context, meta events.Meta, appID, ip, userAgent, authorizationID, clientID string) (Started, events.Position, error) {
	poll, _ := tokens.NewSessionToken("bqp")
	return s.StartBound(ctx, meta, appID, ip, userAgent, authorizationID, clientID, poll)
}

// StartBound is StartFor with the poll token given: a device's request
// derives its QR login's poll token from its id, so any replica can
// collect the login.
func (s *Service) StartBound(ctx context.Context, meta events.Meta, appID, ip, userAgent, authorizationID, clientID, poll string) (Started, events.Position, error) {
	if err := s.findApp(ctx, appID); err != nil {
		return Started{}, events.Position{}, err
	}
	now := s.now()
	id := newQRID()
	hash := tokens.HashToken(poll)
	req := qrlogin.Requester{IP: ip, UserAgent: cleanUserAgent(userAgent), CreatedAt: now}
	if meta.Actor == "" {
		meta.Actor = "anonymous"
	}
	if meta.Time.IsZero() {
		meta.Time = now
	}
	pos, _, err := s.Repo.Update(ctx, id, meta, func(q *qrlogin.QR) (events.Decision, error) {
		evs, err := q.CreateFor(appID, req, hash, s.ttl(), authorizationID, clientID)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return Started{}, events.Position{}, usecase.Translate(err)
	}
	return Started{
		QRID: id, QRURL: s.QRURL(id), ImageURL: s.ImageURL(id), PollToken: poll,
		ExpiresIn: int(s.ttl().Seconds()),
	}, pos, nil
}

// SignIn is who confirmed a bound QR login.
type SignIn struct {
	AccountID string
	SessionID string
}

// ConsumeFor collects the confirmed QR login bound to authorizationID for
// the browser holding its poll token: qr_consumed is recorded (once; a
// second call fails with qr_consumed) with sessionID, the browser session
// the sign-in starts. The account must still be enabled.
func (s *Service) ConsumeFor(ctx context.Context, meta events.Meta, id, pollToken, authorizationID, sessionID string) (SignIn, events.Position, error) {
	if pollToken == "" {
		return SignIn{}, events.Position{}, ErrPollTokenRequired
	}
	if !qrlogin.ValidID(id) {
		return SignIn{}, events.Position{}, qrlogin.ErrNotFound
	}
	now := s.now()
	hash := tokens.HashToken(pollToken)
	var accountID string
	var outcome error
	pos, _, err := s.update(ctx, meta, id, func(q *qrlogin.QR) (events.Decision, error) {
		outcome = nil
		accountID, _ = q.Scanner()
		if acc, ok := s.Accounts.Get(accountID); accountID != "" && (!ok || account.Blocked(acc.Status) != nil) {
			return events.Decision{}, account.ErrDisabled
		}
		evs, err := q.ConsumeFor(authorizationID, hash, accountID, sessionID, now)
		if errors.Is(err, qrlogin.ErrExpired) && len(evs) > 0 {
			outcome = err
			return events.Decision{Events: evs}, nil
		}
		return events.Decision{Events: evs}, err
	})
	if err == nil {
		err = outcome
	}
	if err != nil {
		return SignIn{}, pos, err
	}
	return SignIn{AccountID: accountID, SessionID: sessionID}, pos, nil
}

// Lifetime is how long a QR login stays open.
func (s *Service) Lifetime() time.Duration { return s.ttl() }
