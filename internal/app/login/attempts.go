package login

import (
	"context"
	"errors"
	"time"

	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/events"
)

// attempts are the codes one login spends, each its own login attempt
// aggregate: the first holds the login's outcome, the others (the
// wx.login code sent along with a phone code) are marked spent by it.
type attempts struct {
	app, method string
	codes       []*dlogin.Attempt
}

func attemptAgg(id string) events.Aggregate {
	return events.Aggregate{Type: events.AggregateLogin, ID: id}
}

// newAttempt is the attempt of a code that the login appends to without
// reading it first: the append expects no earlier event, so a code seen
// before conflicts there.
func newAttempt(app, kind, code string) *dlogin.Attempt {
	return dlogin.NewAttempt(dlogin.AttemptID(app, kind, code), 0)
}

// seen reads a code's attempt and refuses a code Bindery has seen before
// (WECHAT.md: never send a code to WeChat twice), without asking WeChat:
// one subject-index lookup of its version.
func (c *core) seen(ctx context.Context, app, kind, code string) (*dlogin.Attempt, error) {
	id := dlogin.AttemptID(app, kind, code)
	v, err := c.Store.Version(ctx, attemptAgg(id))
	if err != nil {
		return nil, err
	}
	a := dlogin.NewAttempt(id, v)
	return a, a.Check()
}

// changes puts the outcome decided on the first attempt on it and marks
// the others spent.
func (as attempts) changes(outcome func(first *dlogin.Attempt) ([]events.Event, error)) ([]events.Change, error) {
	first := as.codes[0]
	evs, err := outcome(first)
	if err != nil {
		return nil, err
	}
	out := []events.Change{{Aggregate: attemptAgg(first.ID()), Expected: first.Version(), Events: evs}}
	for _, a := range as.codes[1:] {
		evs, err := a.Spend(as.app, as.method, first.ID())
		if err != nil {
			return nil, err
		}
		out = append(out, events.Change{Aggregate: attemptAgg(a.ID()), Expected: a.Version(), Events: evs})
	}
	return out, nil
}

// record appends the login's outcome; a code spent meanwhile (by a
// concurrent login with the same code) is code_used.
func (c *core) record(ctx context.Context, meta events.Meta, as attempts, outcome func(*dlogin.Attempt) ([]events.Event, error)) ([]events.Record, error) {
	changes, err := as.changes(outcome)
	if err != nil {
		return nil, err
	}
	recs, err := c.Store.Append(ctx, meta, changes...)
	if errors.Is(err, events.ErrConflict) {
		return nil, dlogin.ErrCodeUsed
	}
	return recs, err
}

// fail records a failed login on its attempts, best effort: a code seen
// before already has its outcome, and then there is nothing to add.
func (c *core) fail(ctx context.Context, meta events.Meta, as attempts, accountID string, reason error) {
	_, err := c.record(ctx, meta, as, func(a *dlogin.Attempt) ([]events.Event, error) {
		return a.Fail(as.app, accountID, as.method, codeOf(reason))
	})
	if err != nil && !errors.Is(err, dlogin.ErrCodeUsed) {
		c.Log.Warn("recording a failed login", "app", as.app, "err", err)
	}
}

// succeed appends a successful login's outcome on its attempts, then the
// session it starts. A store that pipelines (JetStream) gets both before
// either answer is awaited: with the group sync policy they share one disk
// sync instead of waiting for one each. A session stored beside an
// outcome that did not stand (the code was spent meanwhile) is revoked at
// once; its token is never handed out. Other stores append the session
// only once the outcome stands.
func (c *core) succeed(ctx context.Context, meta events.Meta, as attempts, session events.Change, outcome func(*dlogin.Attempt) ([]events.Event, error)) (recs, srecs []events.Record, err error) {
	changes, err := as.changes(outcome)
	if err != nil {
		return nil, nil, err
	}
	p, ok := c.Store.(events.Pipeliner)
	if !ok {
		if recs, err = c.Store.Append(ctx, meta, changes...); err != nil {
			return nil, nil, codeUsed(err)
		}
		if srecs, err = c.Store.Append(ctx, meta, session); err != nil {
			return nil, nil, err
		}
		return recs, srecs, nil
	}
	out, errs := p.AppendPipelined(ctx, meta, changes, []events.Change{session})
	if errs[0] != nil {
		if errs[1] == nil {
			c.abandon(ctx, meta, out[1])
		}
		return nil, nil, codeUsed(errs[0])
	}
	if errs[1] != nil {
		return nil, nil, errs[1]
	}
	return out[0], out[1], nil
}

// codeUsed names a conflict on a code's attempt: someone spent it first.
func codeUsed(err error) error {
	if errors.Is(err, events.ErrConflict) {
		return dlogin.ErrCodeUsed
	}
	return err
}

// abandonTimeout bounds the revocation of a login's session that did not
// stand.
const abandonTimeout = 2 * time.Second

// abandon revokes a session whose login did not stand, best effort: its
// refresh token was never handed out, so nobody can use it either way;
// the revocation keeps it out of the account's live sessions.
func (c *core) abandon(ctx context.Context, meta events.Meta, srecs []events.Record) {
	if len(srecs) == 0 {
		return
	}
	first := srecs[0]
	agg, _ := events.ParseSubject(first.Subject)
	st := session.New(agg.ID)
	for _, r := range srecs {
		st.Apply(r)
	}
	last := srecs[len(srecs)-1]
	ch := events.Change{Aggregate: agg, Expected: last.Sequence, PrevHash: last.Hash(), Events: st.Revoke(events.RevokeLoginRefused)}
	// The login's own deadline may be what refused it; the revocation gets
	// a short one of its own, so the answer still comes in time.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abandonTimeout)
	defer cancel()
	if _, err := c.Store.Append(actx, meta, ch); err != nil {
		c.Log.Warn("revoking the session of a login that did not stand", "session", agg.ID, "err", err)
	}
}
