package login

import (
	"context"
	"errors"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/authorization"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/otpsend"
	"github.com/bindery/bindery/internal/app/usecase"
)

// SignInSendOTP sends a one-time code to a phone (sms) or e-mail address
// typed on the hosted login page of an authorization request (SPEC §7),
// for a sign-in to App.
type SignInSendOTP struct {
	Authorization string
	App           string
	Channel       string // sms or email
	To            string
}

// SignInSendOTPHandler sends the hosted login page's codes. It answers the
// same whether or not an account holds the address, and sends only when
// one does: the request's own limits (one code a minute, a few per
// request) answer rate_limited either way, while the address's fair
// shares, which only a held address has, refuse silently. The code goes
// out after the answer's events are stored, off the request's path, so
// that the answer's timing does not tell either.
type SignInSendOTPHandler struct{ c *core }

// NewSignInSendOTPHandler builds the handler; it needs the OTP key.
// Without a Sender every send is otp_unavailable.
func NewSignInSendOTPHandler(d Deps) *SignInSendOTPHandler {
	return &SignInSendOTPHandler{c: newCore("login.NewSignInSendOTPHandler", d, "otp key", nonEmpty(d.OTPKey))}
}

// signInCodeOwner is what a hosted login page's code is bound to in its
// HMAC (otpHash), in place of a ticket's hash.
func signInCodeOwner(authorizationID string) string { return "authorization:" + authorizationID }

// Handle answers how many seconds the code lives.
func (h *SignInSendOTPHandler) Handle(ctx context.Context, meta events.Meta, cmd SignInSendOTP) (int, events.Position, error) {
	c := h.c
	meta = c.stamp(meta)
	if cmd.Channel == "" {
		return 0, events.Position{}, domain.Invalid("channel: sms or email")
	}
	to, err := dlogin.ParseContact(cmd.Channel, cmd.To)
	if err != nil {
		return 0, events.Position{}, err
	}
	if c.Sender == nil || !c.Sender.Supports(to.Channel) {
		return 0, events.Position{}, dlogin.ErrOTPUndeliverable
	}
	holder, err := c.Store.Owner(ctx, to.Claim(), to.Address)
	if err != nil {
		return 0, events.Position{}, err
	}
	if holder != "" {
		acc, _, err := c.Accounts.Repo.Get(ctx, holder)
		if err != nil {
			return 0, events.Position{}, err
		}
		if acc.CanLogIn() != nil {
			holder = "" // a disabled account signs in by no code
		}
	}
	code := newOTP()
	codeHash := c.otpHash(signInCodeOwner(cmd.Authorization), to, code)
	send := false
	pos, err := events.Transact(ctx, c.Store, meta, []events.Aggregate{authorizationAgg(cmd.Authorization), otpAgg(c.OTPKey, to)}, func(ls []events.Loaded) ([]events.Change, error) {
		z, o := authorization.New(cmd.Authorization), dlogin.NewOTP(to.Hash(c.OTPKey))
		ls[0].Fold(z)
		ls[1].Fold(o)
		now := c.Now()
		send = false
		zevs, err := z.RequestOTP(to.Channel, to.Hash(c.OTPKey), now)
		if err != nil {
			return nil, err
		}
		changes := []events.Change{ls[0].Change(zevs...)}
		if holder == "" {
			return changes, nil
		}
		oevs, err := o.SendSignIn(cmd.App, to, cmd.Authorization, codeHash, now)
		var de *domain.Error
		if errors.As(err, &de) && de.Kind == domain.KindRateLimited {
			return changes, nil // the address's shares are spent: silently nothing
		}
		if err != nil {
			return nil, err
		}
		send = true
		return append(changes, ls[1].Change(oevs...)), nil
	})
	if err != nil {
		return 0, events.Position{}, usecase.Translate(err)
	}
	ttl := int(dlogin.OTPTTL.Seconds())
	if send {
		m := otpsend.Message{Channel: to.Channel, To: to.Address, Code: code, App: cmd.App, ExpiresIn: ttl}
		go func(ctx context.Context) {
			if err := c.Sender.Send(ctx, m); err != nil {
				c.Log.Warn("one-time code not delivered", "app", cmd.App, "channel", to.Channel, "err", err)
			}
		}(context.WithoutCancel(ctx))
	}
	return ttl, pos, nil
}

// Channels are the channels codes can go out on (sms, email), for the page
// to offer.
func (h *SignInSendOTPHandler) Channels() []string {
	var out []string
	for _, ch := range []string{dlogin.ChannelSMS, dlogin.ChannelEmail} {
		if h.c.Sender != nil && h.c.Sender.Supports(ch) {
			out = append(out, ch)
		}
	}
	return out
}
