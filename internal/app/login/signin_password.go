package login

import (
	"context"
	"errors"
	"time"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/authorization"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/verify"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/password"
	"github.com/bindery/bindery/projections"
)

// SignInPassword checks a username (or e-mail address, or phone number)
// and password typed on the hosted login page of an authorization request
// (SPEC §7) for a sign-in to App.
type SignInPassword struct {
	Authorization string
	App           string
	Identifier    string
	Password      string
}

// SignInPasswordHandler runs the password sign-ins of the hosted login
// page under the limits of password binds: the account's password guard
// (dlogin.MaxPasswordFailures an hour, shared with binds), a guard of the
// same size for identifiers nobody holds (so the limit does not tell who
// exists), and the request's own failure count. Unknown identifier, no
// password, wrong password: one answer, invalid_credentials, after the
// same work.
type SignInPasswordHandler struct{ bind *BindPasswordHandler }

// NewSignInPasswordHandler builds the handler; it needs the OTP key (the
// key of the unknown identifiers' guards).
func NewSignInPasswordHandler(d Deps) *SignInPasswordHandler {
	return newSignInPasswordHandler(newBindPasswordHandler(newCore("login.NewSignInPasswordHandler", d, "otp key", nonEmpty(d.OTPKey))))
}

func newSignInPasswordHandler(b *BindPasswordHandler) *SignInPasswordHandler {
	return &SignInPasswordHandler{bind: b}
}

func authorizationAgg(id string) events.Aggregate {
	return events.Aggregate{Type: events.AggregateAuthorization, ID: id}
}

func guardAgg(id string) events.Aggregate {
	return events.Aggregate{Type: events.AggregateLogin, ID: id}
}

// Handle answers the account the password proves, or invalid_credentials,
// too_many_attempts, the request's own errors (authorization_expired, …),
// or account_disabled for the right password of a disabled account.
func (h *SignInPasswordHandler) Handle(ctx context.Context, meta events.Meta, cmd SignInPassword) (string, events.Position, error) {
	c := h.bind.c
	meta = c.stamp(meta)
	a, err := c.Apps.Get(ctx, cmd.App)
	if err != nil {
		return "", events.Position{}, err
	}
	pw := cmd.Password
	if cmd.Identifier == "" || len(cmd.Identifier) > 256 || pw == "" || len(pw) > password.MaxLength {
		return "", events.Position{}, dlogin.ErrBadCredentials
	}
	if verifying(a) {
		return h.verified(ctx, meta, cmd, a)
	}
	var accID string
	for _, cand := range dlogin.SignInCandidates(cmd.Identifier) {
		if accID, err = c.Store.Owner(ctx, cand.Kind, cand.Value); err != nil {
			return "", events.Position{}, err
		}
		if accID != "" {
			break
		}
	}
	guard := dlogin.UnknownGuardID(c.OTPKey, a.ID, cmd.Identifier)
	var acc *account.Account
	if accID != "" {
		guard = dlogin.GuardID(accID)
		// Fresh: the password may have changed on another replica.
		if acc, _, err = c.Accounts.Repo.Refresh(ctx, accID); err != nil {
			return "", events.Position{}, err
		}
	}
	ok := false
	pos, err := events.Transact(ctx, c.Store, meta, []events.Aggregate{authorizationAgg(cmd.Authorization), guardAgg(guard)}, func(ls []events.Loaded) ([]events.Change, error) {
		z, g := authorization.New(cmd.Authorization), dlogin.NewPasswordGuard(guard)
		ls[0].Fold(z)
		ls[1].Fold(g)
		now := c.Now()
		if err := z.CheckSignIn(now); err != nil {
			return nil, err
		}
		if err := g.Check(now); err != nil {
			return nil, err
		}
		if acc != nil && acc.PasswordSealed() != "" {
			ok = h.bind.matches(pw, acc.PasswordSealed())
		} else {
			// Spend the time a real check takes: timing does not tell
			// which identifiers exist.
			_, _ = password.Verify(pw, h.bind.dummyHash())
			ok = false
		}
		if ok {
			return nil, nil
		}
		return h.failure(ls, z, g, a.ID, accID, now)
	})
	if err != nil {
		return "", events.Position{}, usecase.Translate(err)
	}
	if !ok {
		return "", pos, dlogin.ErrBadCredentials
	}
	if err := acc.CanLogIn(); err != nil {
		return "", pos, err
	}
	return accID, pos, nil
}

// failure is the changes of a wrong password: on the request and on the
// guard.
func (h *SignInPasswordHandler) failure(ls []events.Loaded, z *authorization.Authorization, g *dlogin.PasswordGuard, app, accID string, now time.Time) ([]events.Change, error) {
	zevs, err := z.FailSignIn(authorization.MethodPassword, dlogin.ErrBadCredentials.Code, now)
	if err != nil {
		return nil, err
	}
	return []events.Change{ls[0].Change(zevs...), ls[1].Change(g.Fail(app, accID, dlogin.MethodSignInPassword)...)}, nil
}

// verified is Handle for an app whose accounts the customer's API
// verifies: the guard of the username at the app and the request's count
// are checked before the call and charged after a refusal.
func (h *SignInPasswordHandler) verified(ctx context.Context, meta events.Meta, cmd SignInPassword, a projections.App) (string, events.Position, error) {
	c := h.bind.c
	if c.Verifier == nil {
		return "", events.Position{}, dlogin.ErrUpstreamDown
	}
	guard := dlogin.VerifyGuardID(a.ID, cmd.Identifier)
	aggs := []events.Aggregate{authorizationAgg(cmd.Authorization), guardAgg(guard)}
	check := func(ls []events.Loaded) (*authorization.Authorization, *dlogin.PasswordGuard, error) {
		z, g := authorization.New(cmd.Authorization), dlogin.NewPasswordGuard(guard)
		ls[0].Fold(z)
		ls[1].Fold(g)
		if err := z.CheckSignIn(c.Now()); err != nil {
			return nil, nil, err
		}
		return z, g, g.Check(c.Now())
	}
	if _, err := events.Transact(ctx, c.Store, meta, aggs, func(ls []events.Loaded) ([]events.Change, error) {
		_, _, err := check(ls)
		return nil, err
	}); err != nil {
		return "", events.Position{}, usecase.Translate(err)
	}
	secret, err := c.Apps.VerifySecret(a)
	if err != nil {
		return "", events.Position{}, err
	}
	ans, err := c.Verifier.Password(ctx, a.AccountSource.URL, string(secret), cmd.Identifier, cmd.Password)
	switch {
	case errors.Is(err, verify.ErrRejected):
		pos, err := events.Transact(ctx, c.Store, meta, aggs, func(ls []events.Loaded) ([]events.Change, error) {
			z, g, err := check(ls)
			if err != nil {
				return nil, err
			}
			return h.failure(ls, z, g, a.ID, "", c.Now())
		})
		if err != nil {
			return "", events.Position{}, usecase.Translate(err)
		}
		return "", pos, dlogin.ErrBadCredentials
	case err != nil:
		c.Log.Warn("account API unavailable", "app", a.ID, "err", err)
		return "", events.Position{}, dlogin.ErrUpstreamDown
	}
	return c.upsertVerified(ctx, meta, a, ans, cmd.Identifier, "password")
}
