package login

import (
	"context"
	"strings"

	"github.com/bindery/bindery/domain"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/hostcode"
)

// CodeLogin logs in with a wx.login code (apps of kind wechat) or a code
// minted by the host app (kind host).
type CodeLogin struct {
	App  string
	Code string
}

// RoutedCodeLogin is a CodeLogin whose code names its app: "<app>~<code>"
// (code routing).
type RoutedCodeLogin struct {
	Code string
}

// CodeHandler runs code logins.
type CodeHandler struct{ c *core }

// NewCodeHandler builds the handler; it needs WeChat beside what every
// login handler needs.
func NewCodeHandler(d Deps) *CodeHandler {
	return &CodeHandler{c: newCore("login.NewCodeHandler", d, "wechat", d.WeChat)}
}

// HandleRouted splits the routed code and logs in with it.
func (h *CodeHandler) HandleRouted(ctx context.Context, meta events.Meta, cmd RoutedCodeLogin) (Outcome, events.Position, error) {
	appID, code, ok := strings.Cut(cmd.Code, "~")
	if !ok || appID == "" {
		return Outcome{}, events.Position{}, domain.New(domain.KindValidation, "invalid_code", "code: expected <app>~<code>")
	}
	return h.Handle(ctx, meta, CodeLogin{App: appID, Code: code})
}

// Handle answers OK with a session, a bind ticket, or an error; every
// outcome spends the code.
func (h *CodeHandler) Handle(ctx context.Context, meta events.Meta, cmd CodeLogin) (Outcome, events.Position, error) {
	c := h.c
	meta = c.stamp(meta)
	a, err := c.Apps.Get(ctx, cmd.App)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if err := checkCode(cmd.Code); err != nil {
		return Outcome{}, events.Position{}, err
	}
	if a.Kind == events.AppKindHost {
		secret, err := c.Apps.Secret(a)
		if err != nil {
			return Outcome{}, events.Position{}, err
		}
		claims, err := hostcode.Verify(secret, cmd.Code, c.Now())
		if err != nil {
			e := hostError(err)
			c.fail(ctx, meta, attempts{app: a.ID, method: dlogin.MethodHostCode, codes: []*dlogin.Attempt{newAttempt(a.ID, dlogin.CodeHostInvalid, cmd.Code)}}, "", e)
			return Outcome{}, events.Position{}, e
		}
		p := events.ProvenIdentity{App: a.ID, HostUID: claims.UID}
		as := attempts{app: a.ID, method: dlogin.MethodHostCode, codes: []*dlogin.Attempt{newAttempt(a.ID, dlogin.CodeHostNonce, claims.Nonce)}}
		return c.resolve(ctx, meta, a, p, as, amr(a.Kind), false)
	}
	sess, at, err := c.code2Session(ctx, meta, a, cmd.Code, dlogin.MethodCode)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	p := events.ProvenIdentity{App: a.ID, OpenID: sess.OpenID, UnionID: sess.UnionID}
	as := attempts{app: a.ID, method: dlogin.MethodCode, codes: []*dlogin.Attempt{at}}
	return c.resolve(ctx, meta, a, p, as, amr(a.Kind), false)
}
