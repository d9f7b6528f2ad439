package login

import (
	"context"
	"errors"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/authorization"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// SignInVerifyOTP checks a one-time code typed on the hosted login page of
// an authorization request, for the address it was sent to.
type SignInVerifyOTP struct {
	Authorization string
	To            string
	OTP           string
}

// SignInVerifyOTPHandler verifies the hosted login page's codes: the
// address's code of that request (five tries, five minutes, as a bind's)
// and the request's failure count. Every entry that does not sign in is
// one answer, dlogin.ErrSignInOTP.
type SignInVerifyOTPHandler struct{ c *core }

// NewSignInVerifyOTPHandler builds the handler; it needs the OTP key.
func NewSignInVerifyOTPHandler(d Deps) *SignInVerifyOTPHandler {
	return &SignInVerifyOTPHandler{c: newCore("login.NewSignInVerifyOTPHandler", d, "otp key", nonEmpty(d.OTPKey))}
}

// SignedIn is who a code proved, and how (the amr of the sign-in).
type SignedIn struct {
	AccountID string
	AMR       []string
}

// Handle answers the account that holds the address, or invalid_otp,
// too_many_attempts, the request's own errors, account_disabled.
func (h *SignInVerifyOTPHandler) Handle(ctx context.Context, meta events.Meta, cmd SignInVerifyOTP) (SignedIn, events.Position, error) {
	c := h.c
	meta = c.stamp(meta)
	if len(cmd.OTP) != dlogin.OTPDigits || strings.Trim(cmd.OTP, "0123456789") != "" {
		return SignedIn{}, events.Position{}, domain.Invalid("otp: %d digits", dlogin.OTPDigits)
	}
	to, err := dlogin.ParseContact("", cmd.To)
	if err != nil {
		return SignedIn{}, events.Position{}, err
	}
	codeHash := c.otpHash(signInCodeOwner(cmd.Authorization), to, cmd.OTP)
	wrong := false
	pos, err := events.Transact(ctx, c.Store, meta, []events.Aggregate{authorizationAgg(cmd.Authorization), otpAgg(c.OTPKey, to)}, func(ls []events.Loaded) ([]events.Change, error) {
		z, o := authorization.New(cmd.Authorization), dlogin.NewOTP(to.Hash(c.OTPKey))
		ls[0].Fold(z)
		ls[1].Fold(o)
		now := c.Now()
		wrong = false
		if err := z.CheckSignIn(now); err != nil {
			return nil, err
		}
		oevs, err := o.VerifySignIn(cmd.Authorization, codeHash, now)
		switch {
		case err == nil:
			return []events.Change{ls[1].Change(oevs...)}, nil
		case errors.Is(err, dlogin.ErrInvalidOTP), errors.Is(err, dlogin.ErrOTPExpired):
			// Recorded on the code (a wrong one) and on the request, then
			// answered as one.
			wrong = true
			zevs, err := z.FailSignIn(authorization.MethodOTP, dlogin.ErrSignInOTP.Code, now)
			if err != nil {
				return nil, err
			}
			return []events.Change{ls[0].Change(zevs...), ls[1].Change(oevs...)}, nil
		}
		return nil, err
	})
	if err != nil {
		return SignedIn{}, events.Position{}, usecase.Translate(err)
	}
	if wrong {
		return SignedIn{}, pos, dlogin.ErrSignInOTP
	}
	holder, err := c.Store.Owner(ctx, to.Claim(), to.Address)
	if err != nil {
		return SignedIn{}, pos, err
	}
	if holder == "" {
		return SignedIn{}, pos, dlogin.ErrSignInOTP // unbound since the code went out
	}
	acc, _, err := c.Accounts.Repo.Refresh(ctx, holder)
	if err != nil {
		return SignedIn{}, pos, err
	}
	if err := acc.CanLogIn(); err != nil {
		return SignedIn{}, pos, err
	}
	return SignedIn{AccountID: holder, AMR: dlogin.SignInAMR(to)}, pos, nil
}
