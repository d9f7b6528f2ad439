package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"time"

	"github.com/bindery/bindery/internal/adapters/otpsend"
	"github.com/bindery/bindery/internal/adapters/verify"
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/apps"
	"github.com/bindery/bindery/internal/app/authz"
	"github.com/bindery/bindery/internal/app/login"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/projections"
)

// The adapters and use cases login is wired to satisfy its ports.
var (
	_ login.WeChat         = (*wechat.Client)(nil)
	_ login.Verifier       = (*verify.Client)(nil)
	_ login.OTPSender      = (*otpsend.Sender)(nil)
	_ login.Apps           = (*apps.Service)(nil)
	_ login.AccountReader  = (*projections.Accounts)(nil)
	_ login.PositionWaiter = (*projections.Engine)(nil)
	_ login.SessionIssuer  = (*sessions.Service)(nil)
	_ login.Grants         = (*authz.Service)(nil)
)

// deriveOTPKey turns the master key into the key one-time codes are
// HMACed with, so that stored code hashes cannot be tried offline without
// the master key (and every replica derives the same key).
func deriveOTPKey(master []byte) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("bindery otp hash v1"))
	return m.Sum(nil)
}

// openLogin wires apps, the WeChat client, one-time-code delivery and the
// login service (after the sessions service exists).
func (a *App) openLogin(accts *accounts.Service, az *authz.Service) (*apps.Service, error) {
	cfg := a.Config
	store := timedStore{a.Store, a.Metrics}
	found := apps.New(store, a.Box, a.Apps)
	found.Repo.OnConflict = a.Metrics.Conflicts.Inc
	if a.WeChat == nil {
		a.WeChat = wechat.New(cfg.WeChatAPIBase, wechat.WithLogger(a.Log))
	}
	sender, err := otpsend.New(otpsend.Config{
		WebhookURL: cfg.OTPWebhook, WebhookSecret: cfg.OTPWebhookSecret, SMTPURL: cfg.SMTPURL,
		Dev: cfg.Dev, Logger: a.Log,
	})
	if err != nil {
		return nil, err
	}
	a.Login = login.New(login.Deps{
		Store: store, Apps: found, Accounts: accts, View: a.Accounts, Engine: a.Engine,
		Sessions: a.Sessions, WeChat: a.WeChat, Sender: sender, OTPKey: a.otpKey, Log: a.Log,
		Verifier: verify.New(nil, 5*time.Second), Grants: az,
	})
	return found, nil
}
