package login_test

import (
	"strings"
	"testing"

	"github.com/bindery/bindery/internal/app/login"
)

// A handler refuses to be built without what it needs: wiring that forgot
// a dependency fails at start-up, naming it, not on the first request.
func TestConstructorsCheckTheirDependencies(t *testing.T) {
	f := newFixture(t)
	full := login.Deps{Store: f.store, Apps: f.apps, Accounts: f.accounts, View: f.view, Sessions: f.sessions, WeChat: f.wechat, OTPKey: []byte("k")}
	cases := []struct {
		name  string
		build func(d login.Deps)
		drop  func(d *login.Deps)
		want  string
	}{
		{"code without wechat", func(d login.Deps) { login.NewCodeHandler(d) }, func(d *login.Deps) { d.WeChat = nil }, "login.NewCodeHandler: wechat is nil"},
		{"phone without a store", func(d login.Deps) { login.NewPhoneHandler(d) }, func(d *login.Deps) { d.Store = nil }, "login.NewPhoneHandler: store is nil"},
		{"register without sessions", func(d login.Deps) { login.NewRegisterHandler(d) }, func(d *login.Deps) { d.Sessions = nil }, "login.NewRegisterHandler: sessions is nil"},
		{"otp send without a key", func(d login.Deps) { login.NewSendOTPHandler(d) }, func(d *login.Deps) { d.OTPKey = nil }, "login.NewSendOTPHandler: otp key is nil"},
		{"all without the account view", func(d login.Deps) { login.New(d) }, func(d *login.Deps) { d.View = nil }, "login.New: view is nil"},
		{"bind password, complete", func(d login.Deps) { login.NewBindPasswordHandler(d) }, func(*login.Deps) {}, ""},
	}
	for _, c := range cases {
		d := full
		c.drop(&d)
		got := func() (msg string) {
			defer func() {
				if r := recover(); r != nil {
					msg, _ = r.(string)
				}
			}()
			c.build(d)
			return ""
		}()
		if got != c.want && !(c.want != "" && strings.Contains(got, c.want)) {
			t.Errorf("%s: panicked with %q, want %q", c.name, got, c.want)
		}
	}
}
