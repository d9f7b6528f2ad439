package login

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/bindery/bindery/domain/account"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/verify"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/password"
	"github.com/bindery/bindery/projections"
)

// BindPassword binds the ticket's identity to the account of username,
// proven by its password.
type BindPassword struct {
	Ticket   string
	Username string
	Password string
}

// BindPasswordHandler runs password binds: against the account's argon2id
// hash, or — for verify-mode apps — the customer's account API. At most
// dlogin.MaxPasswordFailures failures per account (or verify-mode username)
// per hour are processed, counted in the store.
type BindPasswordHandler struct {
	c      *core
	guards *events.Repository[*dlogin.PasswordGuard]

	once  sync.Once
	dummy string // a password hash to verify against when there is none (timing)
}

// NewBindPasswordHandler builds the handler.
func NewBindPasswordHandler(d Deps) *BindPasswordHandler {
	return newBindPasswordHandler(newCore("login.NewBindPasswordHandler", d))
}

func newBindPasswordHandler(c *core) *BindPasswordHandler {
	return &BindPasswordHandler{c: c, guards: events.NewRepository(c.Store, events.AggregateLogin, dlogin.NewPasswordGuard, 10000)}
}

// dummyHash is made on first use, with the hasher the accounts have then.
func (h *BindPasswordHandler) dummyHash() string {
	h.once.Do(func() { h.dummy = h.c.dummyHash() })
	return h.dummy
}

// Handle answers OK with a session, or invalid_credentials.
func (h *BindPasswordHandler) Handle(ctx context.Context, meta events.Meta, cmd BindPassword) (Outcome, events.Position, error) {
	c := h.c
	meta = c.stamp(meta)
	id, t, err := c.openTicket(ctx, cmd.Ticket)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	appID := t.Identity().App
	a, err := c.Apps.Get(ctx, appID)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if verifying(a) {
		return h.bindVerified(ctx, meta, id, t, a, cmd.Username, cmd.Password)
	}
	pw := cmd.Password
	user, uerr := account.NormalizeUsername(cmd.Username)
	if uerr != nil || user == "" || pw == "" || len(pw) > password.MaxLength {
		c.ticketFail(ctx, meta, id, dlogin.MethodBindPassword, "invalid_credentials")
		return Outcome{}, events.Position{}, dlogin.ErrBadCredentials
	}
	accID, err := c.Store.Owner(ctx, events.ClaimUsername, strings.ToLower(user))
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	var sealed string
	if accID != "" {
		// Fresh: the password may have changed on another replica.
		st, _, err := c.Accounts.Repo.Refresh(ctx, accID)
		if err != nil {
			return Outcome{}, events.Position{}, err
		}
		sealed = st.PasswordSealed()
	}
	if sealed == "" {
		// Spend the time a real check takes, so that timing does not tell
		// which usernames exist.
		_, _ = password.Verify(pw, h.dummyHash())
		c.ticketFail(ctx, meta, id, dlogin.MethodBindPassword, "invalid_credentials")
		return Outcome{}, events.Position{}, dlogin.ErrBadCredentials
	}
	ok := false
	_, _, err = h.guards.Update(ctx, dlogin.GuardID(accID), meta, func(g *dlogin.PasswordGuard) (events.Decision, error) {
		if err := g.Check(c.Now()); err != nil {
			return events.Decision{}, err
		}
		ok = h.matches(pw, sealed)
		if ok {
			return events.Decision{}, nil
		}
		return events.Decision{Events: g.Fail(appID, accID, dlogin.MethodBindPassword)}, nil
	})
	if err != nil {
		return Outcome{}, events.Position{}, usecase.Translate(err)
	}
	if !ok {
		c.ticketFail(ctx, meta, id, dlogin.MethodBindPassword, "wrong_password")
		return Outcome{}, events.Position{}, dlogin.ErrBadCredentials
	}
	return c.bindAndFinish(ctx, meta, id, t, accID, dlogin.MethodBindPassword, amr(a.Kind, "pwd"))
}

func (h *BindPasswordHandler) matches(pw, sealed string) bool {
	hash, err := h.c.Accounts.Box.Open(sealed, accounts.PasswordAAD)
	if err != nil {
		h.c.Log.Error("opening a password hash", "err", err)
		return false
	}
	ok, err := password.Verify(pw, string(hash))
	return err == nil && ok
}

// bindVerified is Handle for an app whose accounts the customer's API
// verifies.
func (h *BindPasswordHandler) bindVerified(ctx context.Context, meta events.Meta, id string, t *dlogin.Ticket, a projections.App, username, pw string) (Outcome, events.Position, error) {
	c := h.c
	if c.Verifier == nil {
		return Outcome{}, events.Position{}, dlogin.ErrUpstreamDown
	}
	if username == "" || len(username) > 256 || pw == "" || len(pw) > password.MaxLength {
		c.ticketFail(ctx, meta, id, dlogin.MethodBindPassword, "invalid_credentials")
		return Outcome{}, events.Position{}, dlogin.ErrBadCredentials
	}
	guard := dlogin.VerifyGuardID(a.ID, username)
	g, _, err := h.guards.Refresh(ctx, guard)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if err := g.Check(c.Now()); err != nil {
		return Outcome{}, events.Position{}, err
	}
	secret, err := c.Apps.VerifySecret(a)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	ans, err := c.Verifier.Password(ctx, a.AccountSource.URL, string(secret), username, pw)
	switch {
	case errors.Is(err, verify.ErrRejected):
		_, _, ferr := h.guards.Update(ctx, guard, meta, func(g *dlogin.PasswordGuard) (events.Decision, error) {
			return events.Decision{Events: g.Fail(a.ID, "", dlogin.MethodBindPassword)}, nil
		})
		if ferr != nil {
			c.Log.Warn("recording a failed password", "app", a.ID, "err", ferr)
		}
		c.ticketFail(ctx, meta, id, dlogin.MethodBindPassword, "wrong_password")
		return Outcome{}, events.Position{}, dlogin.ErrBadCredentials
	case err != nil:
		c.Log.Warn("account API unavailable", "app", a.ID, "err", err)
		return Outcome{}, events.Position{}, dlogin.ErrUpstreamDown
	}
	accID, pos, err := c.upsertVerified(ctx, meta, a, ans, username, "password")
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	out, p2, err := c.bindAndFinish(ctx, meta, id, t, accID, dlogin.MethodBindPassword, amr(a.Kind, "pwd"))
	return out, pos.Max(p2), err
}
