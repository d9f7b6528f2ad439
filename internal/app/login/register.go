package login

import (
	"context"
	"strings"

	"github.com/bindery/bindery/domain"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
)

// Register creates an account from a USER_REGISTER ticket and a profile.
type Register struct {
	Ticket      string
	DisplayName string
	AvatarURL   string
}

// RegisterHandler runs registrations.
type RegisterHandler struct{ c *core }

// NewRegisterHandler builds the handler.
func NewRegisterHandler(d Deps) *RegisterHandler {
	return &RegisterHandler{c: newCore("login.NewRegisterHandler", d)}
}

// Handle answers OK with a session for the new account, or
// registration_closed for a SOCIAL_BIND ticket.
func (h *RegisterHandler) Handle(ctx context.Context, meta events.Meta, cmd Register) (Outcome, events.Position, error) {
	c := h.c
	meta = c.stamp(meta)
	id, t, err := c.openTicket(ctx, cmd.Ticket)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if t.Status() != dlogin.StatusUserRegister {
		return Outcome{}, events.Position{}, dlogin.ErrRegisterClosed
	}
	name := strings.TrimSpace(cmd.DisplayName)
	if name == "" {
		return Outcome{}, events.Position{}, domain.Invalid("display_name: required")
	}
	kind := c.appKind(ctx, t.Identity().App)
	return c.register(ctx, meta, id, t, dlogin.Profile(t.Identity(), name, cmd.AvatarURL), dlogin.MethodRegister, amr(kind))
}
