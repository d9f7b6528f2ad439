package qr

import (
	"context"
	"errors"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/projections"
)

// ErrAccountUnavailable: the confirming account is not (yet) known here;
// the PC polls again.
var ErrAccountUnavailable = domain.New(domain.KindUnavailable, "account_unavailable", "the confirming account is not available yet; poll again")

// consume collects a confirmed login: qr_consumed first (optimistic
// concurrency on the QR makes exactly one poller win), then the session
// in its own append. A crash between the two leaves a consumed QR without
// a session: the PC gets no tokens and starts over.
func (s *Service) consume(ctx context.Context, meta events.Meta, sess projections.QRSession, hash string, now time.Time) (Status, events.Position, error) {
	acc, ok := s.Accounts.Get(sess.ScannedBy)
	if !ok {
		return Status{}, events.Position{}, ErrAccountUnavailable
	}
	if err := account.Blocked(acc.Status); err != nil {
		return Status{}, events.Position{}, err
	}
	change, issued, err := s.Sessions.Start(sessions.ClaimsFor(acc), sess.App, []string{AMR}, now)
	if err != nil {
		return Status{}, events.Position{}, err
	}
	meta.Actor = acc.ID
	if meta.Time.IsZero() {
		meta.Time = now
	}
	var outcome error
	pos, q, err := s.update(ctx, meta, sess.ID, func(q *qrlogin.QR) (events.Decision, error) {
		outcome = nil
		evs, err := q.Consume(hash, acc.ID, change.Aggregate.ID, now)
		if errors.Is(err, qrlogin.ErrExpired) && len(evs) > 0 {
			outcome = err
			return events.Decision{Events: evs}, nil
		}
		return events.Decision{Events: evs}, err
	})
	switch {
	case errors.Is(err, qrlogin.ErrBound):
		// It completes a web app's sign-in (authorize.go), never here.
		return s.status(sess, projections.QRConfirmed, now), pos, nil
	case errors.Is(err, qrlogin.ErrConsumed):
		// Another poller collected it.
		return s.status(sess, projections.QRConsumed, now), pos, nil
	case errors.Is(err, qrlogin.ErrExpired), errors.Is(outcome, qrlogin.ErrExpired):
		return s.status(sess, projections.QRExpired, now), pos, nil
	case errors.Is(err, qrlogin.ErrCancelled):
		return s.status(sess, projections.QRCancelled, now), pos, nil
	case err != nil:
		return Status{}, pos, err
	}
	recs, err := s.Store.Append(ctx, meta, change)
	if err != nil {
		s.log().Error("qr consumed but its session was not stored", "qr", sess.ID, "err", err)
		return Status{}, pos, usecase.Translate(err)
	}
	pos = pos.Max(events.PositionOf(recs))
	st := s.status(sessionOf(q), string(q.Recorded()), now)
	st.ExpiresIn = issued.ExpiresIn
	st.AccountID, st.IDToken, st.SessionToken, st.TokenType = issued.AccountID, issued.IDToken, issued.SessionToken, issued.TokenType
	return st, pos, nil
}
