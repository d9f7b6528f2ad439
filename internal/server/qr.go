package server

import (
	"github.com/bindery/bindery/internal/app/service"
)

// openQR wires the QR login service (after the sessions, apps and WeChat
// client exist). apps may be nil: any app slug is then accepted.
func (a *App) openQR(apps *service.Apps) *service.QR {
	qr := service.NewQR(timedStore{a.Store, a.Metrics}, a.QRs, a.Sessions, a.Accounts, a.Config.Issuer, a.Config.QRTTL)
	qr.Repo.OnConflict = a.Metrics.Conflicts.Inc
	qr.Changed = a.Engine.Changed
	qr.Logger = a.Log
	qr.WeChat = a.WeChat
	if apps != nil {
		qr.Apps = apps
	}
	if a.clock != nil {
		qr.Now = a.clock
		a.Sessions.Now = a.clock
	}
	a.QR = qr
	return qr
}
