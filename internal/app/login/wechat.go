package login

import (
	"context"
	"errors"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/crypto/hostcode"
	"github.com/bindery/bindery/projections"
)

func (c *core) credentials(a projections.App) (wechat.Credentials, error) {
	secret, err := c.Apps.Secret(a)
	if err != nil {
		return wechat.Credentials{}, err
	}
	return wechat.Credentials{AppID: a.WeChatAppID, Secret: string(secret)}, nil
}

// code2Session exchanges a wx.login code that Bindery has not seen before;
// a failure is the code's outcome (its attempt records it).
func (c *core) code2Session(ctx context.Context, meta events.Meta, a projections.App, code, method string) (wechat.Session, *dlogin.Attempt, error) {
	at, err := c.seen(ctx, a.ID, dlogin.CodeWeChat, code)
	if err != nil {
		return wechat.Session{}, nil, err
	}
	cred, err := c.credentials(a)
	if err != nil {
		return wechat.Session{}, nil, err
	}
	sess, err := c.WeChat.Code2Session(ctx, cred, code)
	if err != nil {
		e := c.wechatError(a.ID, err)
		c.fail(ctx, meta, attempts{app: a.ID, method: method, codes: []*dlogin.Attempt{at}}, "", e)
		return wechat.Session{}, nil, e
	}
	return sess, at, nil
}

// phoneNumber asks WeChat for the number behind a phone code, in E.164.
func (c *core) phoneNumber(ctx context.Context, a projections.App, code string) (string, error) {
	cred, err := c.credentials(a)
	if err != nil {
		return "", err
	}
	ph, err := c.WeChat.PhoneNumber(ctx, cred, code)
	if err != nil {
		return "", c.wechatError(a.ID, err)
	}
	phone, err := account.NormalizePhone(ph.E164)
	if err != nil || phone == "" {
		c.Log.Warn("wechat phone number is not E.164", "app", a.ID)
		return "", dlogin.ErrUpstreamDown
	}
	return phone, nil
}

// wechatError maps a WeChat answer to the API's stable codes.
func (c *core) wechatError(app string, err error) *domain.Error {
	var we *wechat.Error
	isWe := errors.As(err, &we)
	switch {
	case wechat.IsInvalidCode(err):
		return dlogin.ErrInvalidCode
	case wechat.IsCodeUsed(err):
		return dlogin.ErrCodeUsed
	case wechat.IsRateLimited(err):
		return dlogin.RateLimited(time.Minute, "WeChat's per-user limit was reached; retry in a minute").(*domain.Error)
	case wechat.IsBadCredentials(err), isWe && (we.Code == 41002 || we.Code == 41004):
		c.Log.Error("wechat refused the app's credentials", "app", app, "err", err)
		return dlogin.ErrUpstreamMisconf
	case isWe && we.Code == 40226:
		return domain.New(domain.KindForbidden, "user_blocked", "WeChat blocked this user's login as high-risk")
	case isWe && (we.Code == 41008):
		return dlogin.ErrInvalidCode
	}
	c.Log.Warn("wechat unavailable", "app", app, "err", err)
	return dlogin.ErrUpstreamDown
}

// hostError maps a host code that did not verify to the API's codes.
func hostError(err error) *domain.Error {
	if errors.Is(err, hostcode.ErrExpired) || errors.Is(err, hostcode.ErrTooLong) {
		return dlogin.ErrCodeExpired
	}
	return dlogin.ErrInvalidCode
}
