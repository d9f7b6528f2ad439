package login

import (
	"context"
	"errors"
	"time"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/app"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/projections"
)

// TicketPrefix starts every bind ticket ("bbt.<base64url of 32 bytes>").
const TicketPrefix = "bbt"

// resolve runs the match rules over what the login proved and answers OK
// (with a new session), or a bind ticket, or account_not_found.
func (c *core) resolve(ctx context.Context, meta events.Meta, a projections.App, p events.ProvenIdentity, as attempts, amr []string, phoneLogin bool) (Outcome, events.Position, error) {
	cands := dlogin.Candidates(a.Kind, a.MatchRules, p)
	// Whether the account may log in is decided on its aggregate, fresh
	// from the store, never on this replica's view, which may lag a
	// disable made on another replica; match reads it with the claim.
	accID, idx, st, err := c.match(ctx, cands)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	now := c.Now()
	rule := ""
	if idx >= 0 {
		rule = cands[idx].Rule
	}
	var pos events.Position
	if accID == "" && a.Kind == events.AppKindHost && verifying(a) {
		// Nobody matched: the customer's account API may know the user.
		vid, vpos, err := c.verifyHostUser(ctx, meta, a, p.HostUID)
		if err != nil {
			c.fail(ctx, meta, as, "", err)
			return Outcome{}, events.Position{}, err
		}
		accID, rule, pos = vid, "verify", vpos
	}
	if accID == "" {
		if phoneLogin && a.OnNoMatch != app.OnNoMatchRegister {
			c.fail(ctx, meta, as, "", dlogin.ErrAccountNotFound)
			return Outcome{}, events.Position{}, dlogin.ErrAccountNotFound
		}
		return c.pending(ctx, meta, a, p, as, now)
	}
	if st == nil { // matched by the verify source
		if st, _, err = c.Accounts.Repo.Refresh(ctx, accID); err != nil {
			return Outcome{}, events.Position{}, err
		}
	}
	disabled := account.IsBlocked(st.CanLogIn())
	if idx > 0 && !disabled {
		f := dlogin.BackfillFor(p, cands, idx)
		bp, _, err := c.Accounts.Repo.Update(ctx, accID, meta, func(acc *account.Account) (events.Decision, error) {
			evs, err := acc.Backfill(f)
			return events.Decision{Events: evs}, err
		})
		var taken *events.ClaimTakenError
		switch {
		case errors.As(err, &taken):
			// Another account holds an earlier rule's value: the login
			// stands, the back-fill does not happen.
			c.Log.Info("back-fill skipped: value belongs to another account", "app", a.ID, "kind", taken.Kind)
		case account.IsBlocked(err):
			disabled = true // disabled since the refresh
		case err != nil:
			return Outcome{}, events.Position{}, usecase.Translate(err)
		}
		pos = bp
	}
	if disabled {
		c.fail(ctx, meta, as, accID, account.ErrDisabled)
		return Outcome{}, events.Position{}, account.ErrDisabled
	}
	acc, err := c.account(ctx, accID, pos)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	change, issued, err := c.Sessions.Start(sessions.ClaimsFor(acc), a.ID, amr, now)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	// Two appends, not one: a multi-message append is a JetStream atomic
	// batch, which an R1 file stream stages on disk (~5 ms), and a
	// returning user's login is the hot path. Both are sent before either
	// answer is awaited (one disk sync for both under the group policy).
	// The attempt spends the code: if it was spent meanwhile, the session
	// stored beside it is revoked at once, and no token was handed out; a
	// crash in between leaves a session whose token nobody ever got.
	recs, srecs, err := c.succeed(ctx, meta, as, change, func(at *dlogin.Attempt) ([]events.Event, error) {
		return at.Succeed(a.ID, accID, as.method, rule, change.Aggregate.ID)
	})
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	return okOutcome(issued), pos.Max(events.PositionOf(recs)).Max(events.PositionOf(srecs)), nil
}

// pending issues a bind ticket for an identity no account has.
func (c *core) pending(ctx context.Context, meta events.Meta, a projections.App, p events.ProvenIdentity, as attempts, now time.Time) (Outcome, events.Position, error) {
	status := dlogin.StatusSocialBind
	methods := []string{"password", "otp"}
	if a.Kind == events.AppKindWeChat {
		methods = append([]string{"phone"}, methods...)
	}
	if a.OnNoMatch == app.OnNoMatchRegister {
		status = dlogin.StatusUserRegister
		methods = append(methods, "register")
	}
	raw, hash := tokens.NewSessionToken(TicketPrefix)
	tevs, err := dlogin.NewTicket(hash).Issue(status, p, now)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	// The attempt (spending the code) first, then the ticket, as two
	// single-message appends (see resolve): a crash between them leaves a
	// spent code and no ticket, and the raw ticket was never handed out.
	recs, err := c.record(ctx, meta, as, func(at *dlogin.Attempt) ([]events.Event, error) {
		return at.PendBind(a.ID, as.method, status, hash)
	})
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	trecs, err := c.Store.Append(ctx, meta, events.Change{Aggregate: ticketAgg(hash), Events: tevs})
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	recs = append(recs, trecs...)
	return Outcome{Status: status, BindTicket: raw, BindMethods: methods, ExpiresIn: int(dlogin.TicketTTL.Seconds())}, events.PositionOf(recs), nil
}

// account reads the account view once it reflects pos. A claim may name
// an account that this replica's view has not applied yet (written a
// moment ago elsewhere), so a miss waits a little for the view.
func (c *core) account(ctx context.Context, id string, pos events.Position) (projections.Account, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if c.Engine != nil && !pos.IsZero() {
		if err := c.Engine.WaitFor(ctx, pos); err != nil {
			return projections.Account{}, err
		}
	}
	for {
		if acc, ok := c.View.Get(id); ok {
			return acc, nil
		}
		if c.Engine == nil {
			return projections.Account{}, dlogin.ErrAccountNotFound
		}
		changed, done := c.Engine.Changed()
		if acc, ok := c.View.Get(id); ok {
			done()
			return acc, nil
		}
		select {
		case <-changed:
			done()
		case <-ctx.Done():
			done()
			return projections.Account{}, projections.ErrNotReached
		}
	}
}
