package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/handlers/console"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/authz"
)

func deriveConsoleKey(master []byte) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("bindery console session v1"))
	return m.Sum(nil)
}

// mountConsole serves the admin console under /console on the API's Echo,
// calling the same use cases and views as the admin API. Its sign-in is
// the OIDC client of Bindery's own OpenID Provider, which this server does
// not have yet: the console's sign-in page says so (WithConsoleSignIn
// gives it one).
func (a *App) mountConsole(accts *accounts.Service, az *authz.Service) {
	c := console.New(console.Deps{
		Accounts: accts, Grants: az, Sessions: a.Sessions,
		AccountsV: a.Accounts, AuthzV: a.Authz, AppsV: a.Apps, WebhooksV: a.Webhooks,
		Deliveries: a.Forwarder, Audit: a.Audit, Engine: a.Engine, Metrics: a.Metrics,
		SignIn: a.consoleSignIn, Key: a.consoleKey,
		Secure: strings.HasPrefix(a.Config.Issuer, "https://"), Now: a.clock, Logger: a.Log,
	})
	h := echo.WrapHandler(c)
	e := a.API.Echo()
	e.GET("/console", h)
	e.GET("/console/*", h)
	e.POST("/console/*", h)
}

// WithConsoleSignIn gives the console a sign-in (tests, until the OpenID
// Provider exists).
func WithConsoleSignIn(s console.SignIn) Option {
	return func(a *App) { a.consoleSignIn = s }
}
