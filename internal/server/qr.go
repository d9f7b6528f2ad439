package server

import (
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/apps"
	"github.com/bindery/bindery/internal/app/qr"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/projections"
)

// The adapters, views and use cases wired together satisfy their ports.
var (
	_ qr.WeChat            = (*wechat.Client)(nil)
	_ qr.AppFinder         = (*apps.Service)(nil)
	_ qr.View              = (*projections.QRSessions)(nil)
	_ qr.AccountReader     = (*projections.Accounts)(nil)
	_ qr.SessionStarter    = (*sessions.Service)(nil)
	_ sessions.AccountGate = (*accounts.Service)(nil)
)

// openQR wires the QR login service (after the sessions, apps and WeChat
// client exist). found may be nil: any app slug is then accepted.
func (a *App) openQR(found *apps.Service) *qr.Service {
	q := qr.New(timedStore{a.Store, a.Metrics}, a.QRs, a.Sessions, a.Accounts, a.Config.Issuer, a.Config.QRTTL)
	q.Repo.OnConflict = a.Metrics.Conflicts.Inc
	q.Changed = a.Engine.Changed
	q.Logger = a.Log
	if a.WeChat != nil { // a nil client must stay a nil interface
		q.WeChat = a.WeChat
	}
	if found != nil {
		q.Apps = found
	}
	if a.clock != nil {
		q.Now = a.clock
		a.Sessions.Now = a.clock
	}
	a.QR = q
	return q
}
