package qr

import (
	"context"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/projections"
)

// Profile is who scanned, as the PC is shown.
type Profile struct {
	DisplayName string `json:"display_name,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// Status is what a poll answers. The tokens come once, in the answer
// that collects a confirmed login; ExpiresIn is then the id_token's
// lifetime, before that the seconds the QR login stays open.
type Status struct {
	State        string   `json:"state"`
	ExpiresIn    int      `json:"expires_in"`
	ScannedBy    *Profile `json:"scanned_by,omitempty"`
	AccountID    string   `json:"account_id,omitempty"`
	IDToken      string   `json:"id_token,omitempty"`
	SessionToken string   `json:"session_token,omitempty"`
	TokenType    string   `json:"token_type,omitempty"`
}

// ErrPollTokenRequired: a poll without a poll token.
var ErrPollTokenRequired = domain.New(domain.KindUnauthorized, "poll_token_required", "send the poll token in X-Poll-Token (or ?poll_token=)")

// Poll answers the state of the QR login for the holder of its poll token.
// With wait > 0 it holds the answer until the state differs from known
// (the state at the first look when known is ""), the session ends, or
// wait passes. A poll that finds the login CONFIRMED collects it: it
// records qr_consumed (exactly one poller wins), starts the session and
// answers its tokens; every later poll sees CONSUMED without them.
func (s *Service) Poll(ctx context.Context, meta events.Meta, id, pollToken, known string, wait time.Duration) (Status, events.Position, error) {
	if pollToken == "" {
		return Status{}, events.Position{}, ErrPollTokenRequired
	}
	if !qrlogin.ValidID(id) {
		return Status{}, events.Position{}, qrlogin.ErrNotFound
	}
	wait = min(wait, MaxWait)
	hash := tokens.HashToken(pollToken)
	deadline := time.Now().Add(wait)
	var pos events.Position
	for {
		sess, changed, release, err := s.watch(ctx, id)
		if err != nil {
			return Status{}, pos, err
		}
		if !tokens.HashEqual(sess.PollTokenHash, hash) {
			release()
			return Status{}, pos, qrlogin.ErrPollToken
		}
		st, p, err := s.settle(ctx, meta, sess, hash)
		pos = pos.Max(p)
		if err != nil {
			release()
			return Status{}, pos, err
		}
		if known == "" {
			known = st.State
		}
		left := time.Until(deadline)
		if st.State != known || left <= 0 || qrlogin.State(st.State).Final() {
			release()
			return st, pos, nil
		}
		// Wake at the next change, at the session's expiry, or at the end.
		if exp := sess.ExpiresAt.Sub(s.now()); exp < left {
			left = max(exp, time.Millisecond)
		}
		timer := time.NewTimer(left)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			release()
			return st, pos, nil
		}
		timer.Stop()
		release()
	}
}

// watch finds the session and a channel closed at its next change: in the
// view, or, when the view does not know it yet (it was created a moment
// ago, possibly on another replica), in the store, waiting then for any
// applied event.
func (s *Service) watch(ctx context.Context, id string) (projections.QRSession, <-chan struct{}, func(), error) {
	var changed <-chan struct{}
	release := func() {}
	if s.Changed != nil {
		// Taken before the view is read, so that an event applied in
		// between still wakes us.
		changed, release = s.Changed()
	}
	if sess, ch, ok := s.View.Watch(id); ok {
		release()
		return sess, ch, func() {}, nil
	}
	q, _, err := s.Repo.Get(ctx, id)
	if err != nil {
		release()
		return projections.QRSession{}, nil, nil, err
	}
	if !q.Exists() {
		s.Repo.Forget(id)
		release()
		return projections.QRSession{}, nil, nil, qrlogin.ErrNotFound
	}
	if changed == nil {
		ch := make(chan struct{})
		t := time.AfterFunc(100*time.Millisecond, func() { close(ch) })
		changed, release = ch, func() { t.Stop() }
	}
	return sessionOf(q), changed, release, nil
}

// settle brings a session the poller looks at to where the clock says:
// it records the expiry of an open session past its TTL, and collects a
// confirmed login.
func (s *Service) settle(ctx context.Context, meta events.Meta, sess projections.QRSession, hash string) (Status, events.Position, error) {
	now := s.now()
	state := sess.StateAt(now)
	var pos events.Position
	switch {
	case state == projections.QRExpired && sess.State != projections.QRExpired:
		pos = s.recordExpiry(ctx, meta, sess.ID, now)
	case state == projections.QRConfirmed:
		return s.consume(ctx, meta, sess, hash, now)
	}
	return s.status(sess, state, now), pos, nil
}

// recordExpiry stores qr_expired for a session a poll found past its TTL.
// It is a record, not a decision the answer waits on: a failure is logged
// and the next step or poll tries again.
func (s *Service) recordExpiry(ctx context.Context, meta events.Meta, id string, now time.Time) events.Position {
	meta.Actor = "system"
	if meta.Time.IsZero() {
		meta.Time = now
	}
	pos, _, err := s.update(ctx, meta, id, func(q *qrlogin.QR) (events.Decision, error) {
		return events.Decision{Events: q.Expire(now)}, nil
	})
	if err != nil {
		s.log().Warn("qr expiry not recorded", "qr", id, "err", err)
	}
	return pos
}

func (s *Service) status(sess projections.QRSession, state string, now time.Time) Status {
	st := Status{State: state}
	if !qrlogin.State(state).Final() {
		st.ExpiresIn = secondsLeft(sess.ExpiresAt, now)
	}
	if sess.ScannedBy != "" {
		st.ScannedBy = &Profile{}
		if acc, ok := s.Accounts.Get(sess.ScannedBy); ok {
			st.ScannedBy = &Profile{DisplayName: acc.DisplayName, AvatarURL: acc.AvatarURL}
		}
	}
	return st
}
