package login

import (
	"context"
	"errors"
	"strings"

	"github.com/bindery/bindery/domain"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// VerifyOTP checks the ticket's one-time code for an address.
type VerifyOTP struct {
	Ticket string
	To     string
	OTP    string
}

// VerifyOTPHandler verifies one-time codes: right, it binds to (or
// registers) the account of that address. Five wrong entries use the code
// up; each also counts against the ticket.
type VerifyOTPHandler struct{ c *core }

// NewVerifyOTPHandler builds the handler; it needs the OTP key.
func NewVerifyOTPHandler(d Deps) *VerifyOTPHandler {
	return &VerifyOTPHandler{c: newCore("login.NewVerifyOTPHandler", d, "otp key", nonEmpty(d.OTPKey))}
}

// Handle answers OK with a session, or invalid_otp (with the tries left),
// otp_expired, account_not_found.
func (h *VerifyOTPHandler) Handle(ctx context.Context, meta events.Meta, cmd VerifyOTP) (Outcome, events.Position, error) {
	c := h.c
	meta = c.stamp(meta)
	id, err := ticketID(cmd.Ticket)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if len(cmd.OTP) != dlogin.OTPDigits || strings.Trim(cmd.OTP, "0123456789") != "" {
		return Outcome{}, events.Position{}, domain.Invalid("otp: %d digits", dlogin.OTPDigits)
	}
	to, err := dlogin.ParseContact("", cmd.To)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	codeHash := c.otpHash(id, to, cmd.OTP)
	var wrong error
	var t *dlogin.Ticket
	pos, err := events.Transact(ctx, c.Store, meta, []events.Aggregate{ticketAgg(id), otpAgg(c.OTPKey, to)}, func(ls []events.Loaded) ([]events.Change, error) {
		wrong = nil
		t = dlogin.NewTicket(id)
		o := dlogin.NewOTP(to.Hash(c.OTPKey))
		ls[0].Fold(t)
		ls[1].Fold(o)
		now := c.Now()
		if err := t.Check(now); err != nil {
			return nil, err
		}
		evs, err := o.Verify(id, codeHash, now)
		switch {
		case errors.Is(err, dlogin.ErrInvalidOTP):
			// A wrong code: recorded on the code and the ticket, then answered.
			wrong = err
			tevs, err := t.Fail(dlogin.MethodBindOTP, dlogin.ErrInvalidOTP.Code, now)
			if err != nil {
				return nil, err
			}
			return []events.Change{ls[1].Change(evs...), ls[0].Change(tevs...)}, nil
		case err != nil:
			return nil, err
		}
		return []events.Change{ls[1].Change(evs...)}, nil
	})
	if err != nil {
		return Outcome{}, events.Position{}, usecase.Translate(err)
	}
	if wrong != nil {
		return Outcome{}, pos, wrong
	}
	out, p2, err := c.bindContact(ctx, meta, id, t, to.Claim(), to.Address, dlogin.MethodBindOTP, amr(c.appKind(ctx, t.Identity().App), to.Proof()))
	return out, pos.Max(p2), err
}
