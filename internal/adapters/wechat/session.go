package wechat

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
)

// Session is what code2session tells about a user of a mini program.
type Session struct {
	OpenID  string
	UnionID string // empty unless the app is bound to an open platform
	// SessionKey is a server secret: never send it to a client, a log or an event.
	SessionKey string
}

// String hides the session key.
func (s Session) String() string {
	return fmt.Sprintf("Session{OpenID: %s, UnionID: %s, SessionKey: [hidden]}", s.OpenID, s.UnionID)
}

// GoString hides the session key from %#v too.
func (s Session) GoString() string { return s.String() }

// LogValue hides the session key from slog.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("openid", s.OpenID), slog.String("unionid", s.UnionID))
}

// Code2Session exchanges a wx.login code for the user's identity in the app. The code is
// sent at most once: not after an error, not after a transport failure (it may have been
// consumed), so callers ask the mini program for a new code instead.
func (c *Client) Code2Session(ctx context.Context, cred Credentials, jsCode string) (Session, error) {
	if jsCode == "" {
		return Session{}, &Error{Code: 41008, Msg: "missing code"}
	}
	q := url.Values{
		"appid":      {cred.AppID},
		"secret":     {cred.Secret},
		"js_code":    {jsCode},
		"grant_type": {"authorization_code"},
	}
	var out struct {
		OpenID     string `json:"openid"`
		SessionKey string `json:"session_key"`
		UnionID    string `json:"unionid"`
	}
	if err := c.callJSON(ctx, request{method: http.MethodGet, path: "/sns/jscode2session", query: q}, &out); err != nil {
		return Session{}, err
	}
	if out.OpenID == "" || out.SessionKey == "" {
		return Session{}, fmt.Errorf("%w: /sns/jscode2session answered without openid or session_key", ErrUnavailable)
	}
	return Session{OpenID: out.OpenID, UnionID: out.UnionID, SessionKey: out.SessionKey}, nil
}
