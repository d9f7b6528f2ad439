package login

import (
	"context"

	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
)

// PhoneLogin logs in with a getPhoneNumber code and, optionally, the
// wx.login code, so that the match rules see the phone and the
// openid/unionid together.
type PhoneLogin struct {
	App       string
	PhoneCode string
	LoginCode string // optional
}

// PhoneHandler runs phone logins (apps of kind wechat).
type PhoneHandler struct{ c *core }

// NewPhoneHandler builds the handler; it needs WeChat beside what every
// login handler needs.
func NewPhoneHandler(d Deps) *PhoneHandler {
	return &PhoneHandler{c: newCore("login.NewPhoneHandler", d, "wechat", d.WeChat)}
}

// Handle answers OK with a session, a bind ticket (USER_REGISTER apps), or
// account_not_found; every outcome spends both codes.
func (h *PhoneHandler) Handle(ctx context.Context, meta events.Meta, cmd PhoneLogin) (Outcome, events.Position, error) {
	c := h.c
	meta = c.stamp(meta)
	a, err := c.Apps.Get(ctx, cmd.App)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if a.Kind != events.AppKindWeChat {
		return Outcome{}, events.Position{}, dlogin.ErrWrongKind
	}
	if err := checkCode(cmd.PhoneCode); err != nil {
		return Outcome{}, events.Position{}, err
	}
	if cmd.LoginCode != "" {
		if err := checkCode(cmd.LoginCode); err != nil {
			return Outcome{}, events.Position{}, err
		}
	}
	at, err := c.seen(ctx, a.ID, dlogin.CodePhone, cmd.PhoneCode)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	as := attempts{app: a.ID, method: dlogin.MethodPhone, codes: []*dlogin.Attempt{at}}
	phone, err := c.phoneNumber(ctx, a, cmd.PhoneCode)
	if err != nil {
		c.fail(ctx, meta, as, "", err)
		return Outcome{}, events.Position{}, err
	}
	p := events.ProvenIdentity{App: a.ID, Phone: phone}
	if cmd.LoginCode != "" {
		sess, lat, err := c.code2Session(ctx, meta, a, cmd.LoginCode, dlogin.MethodPhone)
		if err != nil {
			return Outcome{}, events.Position{}, err
		}
		p.OpenID, p.UnionID = sess.OpenID, sess.UnionID
		as.codes = append(as.codes, lat)
	}
	return c.resolve(ctx, meta, a, p, as, amr(a.Kind, "phone"), true)
}
