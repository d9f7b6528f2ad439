package login

import (
	"context"

	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
)

// BindPhone binds the ticket's identity to the account of the phone number
// WeChat vouches for (a getPhoneNumber code).
type BindPhone struct {
	Ticket    string
	PhoneCode string
}

// BindPhoneHandler runs phone binds (apps of kind wechat).
type BindPhoneHandler struct{ c *core }

// NewBindPhoneHandler builds the handler; it needs WeChat beside what
// every login handler needs.
func NewBindPhoneHandler(d Deps) *BindPhoneHandler {
	return &BindPhoneHandler{c: newCore("login.NewBindPhoneHandler", d, "wechat", d.WeChat)}
}

// Handle answers OK with a session; with a USER_REGISTER ticket and nobody
// on that number, it registers a new account; otherwise account_not_found.
func (h *BindPhoneHandler) Handle(ctx context.Context, meta events.Meta, cmd BindPhone) (Outcome, events.Position, error) {
	c := h.c
	meta = c.stamp(meta)
	id, t, err := c.openTicket(ctx, cmd.Ticket)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	a, err := c.Apps.Get(ctx, t.Identity().App)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if a.Kind != events.AppKindWeChat {
		return Outcome{}, events.Position{}, dlogin.ErrWrongKind
	}
	if err := checkCode(cmd.PhoneCode); err != nil {
		c.ticketFail(ctx, meta, id, dlogin.MethodBindPhone, codeOf(err))
		return Outcome{}, events.Position{}, err
	}
	phone, err := c.phoneNumber(ctx, a, cmd.PhoneCode)
	if err != nil {
		if code := codeOf(err); code == dlogin.ErrInvalidCode.Code || code == dlogin.ErrCodeUsed.Code {
			c.ticketFail(ctx, meta, id, dlogin.MethodBindPhone, code)
		}
		return Outcome{}, events.Position{}, err
	}
	return c.bindContact(ctx, meta, id, t, events.ClaimPhone, phone, dlogin.MethodBindPhone, amr(a.Kind, "phone"))
}
