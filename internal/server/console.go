package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/oidcclient"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/handlers/console"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
)

func deriveConsoleKey(master []byte) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("bindery console session v1"))
	return m.Sum(nil)
}

// mountConsole serves the admin console under /console on the API's Echo.
// It signs administrators in as the OIDC client bindery-console of this
// server's own OpenID Provider, and runs its actions through the admin
// API with the administrator's access token; both reach the API in
// process (console.InProcess), never over the network.
func (a *App) mountConsole(clients *appoidc.Clients) {
	api := a.API.Handler()
	c := console.New(console.Deps{
		API:       api,
		AccountsV: a.Accounts, AuthzV: a.Authz, AppsV: a.Apps, WebhooksV: a.Webhooks, OIDCClientsV: a.OIDCClients,
		Deliveries: a.Forwarder, Audit: a.Audit, Engine: a.Engine, Metrics: a.Metrics,
		SignIn: &console.OIDC{
			Issuer: a.Config.Issuer, HTTP: console.InProcess(api),
			Ensure: func(ctx context.Context) error { return a.ensureConsoleClient(ctx, clients) },
		},
		Key:    a.consoleKey,
		Secure: strings.HasPrefix(a.Config.Issuer, "https://"), Now: a.clock, Logger: a.Log,
	})
	h := echo.WrapHandler(c)
	e := a.API.Echo()
	e.GET("/console", h)
	e.GET("/console/*", h)
	e.POST("/console/*", h)
}

// errNoConsoleApp: the console's QR code must open some app's mini
// program, and there is none (yet).
var errNoConsoleApp = domain.New(domain.KindUnavailable, "console_app_missing",
	"no app to sign in with: register an app (PUT /v1/apps/{id}) or set BINDERY_CONSOLE_APP to a registered one; its mini program opens the console's QR code")

// consoleApp is the app whose mini program opens the console's QR code:
// BINDERY_CONSOLE_APP, else the first app registered.
func (a *App) consoleApp() (string, bool) {
	if id := a.Config.ConsoleApp; id != "" {
		_, ok := a.Apps.Get(id)
		return id, ok
	}
	var first string
	var at time.Time
	for _, id := range a.Apps.IDs() {
		app, _ := a.Apps.Get(id)
		if first == "" || app.CreatedAt.Before(at) {
			first, at = id, app.CreatedAt
		}
	}
	return first, first != ""
}

// ensureConsoleClient registers the console's OIDC client, or brings it
// up to date (its app, its redirect URI on this issuer), before a sign-in
// starts: a fresh server has no app at start-up, and the app may change.
// Registering the same again appends nothing.
func (a *App) ensureConsoleClient(ctx context.Context, clients *appoidc.Clients) error {
	app, ok := a.consoleApp()
	if !ok {
		return errNoConsoleApp
	}
	redirect := a.Config.Issuer + console.CallbackPath
	if c, ok := a.OIDCClients.Get(console.ClientID); ok && c.App == app && slices.Equal(c.RedirectURIs, []string{redirect}) && c.Type == oidcclient.Public {
		return nil
	}
	meta := events.Meta{Actor: "system:console", RequestID: "console-client"}
	if a.clock != nil {
		meta.Time = a.clock()
	}
	_, _, pos, err := clients.Put(ctx, meta, console.ClientID, appoidc.PutClient{Spec: oidcclient.Spec{
		Name: "Bindery console", App: app, Type: oidcclient.Public,
		RedirectURIs: []string{redirect}, Scopes: []string{"openid", "profile"},
	}})
	if err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return a.Engine.WaitFor(wait, pos)
}
