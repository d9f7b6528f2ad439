package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/delivery"
	"github.com/bindery/bindery/internal/adapters/oidcop"
	"github.com/bindery/bindery/internal/app/apps"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
	"github.com/bindery/bindery/internal/app/qr"
)

// oidcParts are the OpenID Provider's pieces the API serves.
type oidcParts struct {
	clients  *appoidc.Clients
	provider *oidcop.Provider
	signIn   *appoidc.SignIn
	access   *appoidc.AccessTokens // the admin API's check of access tokens
	devices  *appoidc.Devices
}

// openOIDC wires the OIDC client registrations and the OpenID Provider
// (after the signer, the apps and the QR logins exist).
func (a *App) openOIDC(found *apps.Service, logins *qr.Service) (oidcParts, error) {
	store := timedStore{a.Store, a.Metrics}
	clients := appoidc.NewClients(store, a.Box, func(ctx context.Context, id string) error {
		_, err := found.Get(ctx, id)
		return err
	})
	clients.Repo.OnConflict = a.Metrics.Conflicts.Inc
	auth := appoidc.NewAuthorizations(store, a.Box, deriveCodeKey(a.otpKey), a.clock)
	auth.Repo.OnConflict = a.Metrics.Conflicts.Inc
	// A web app's refresh tokens are session families; its tokens count
	// only while their account may act.
	auth.Sessions, auth.Gate = a.Sessions, a.Sessions.Gate
	browser := appoidc.NewBrowserSessions(store, a.clock)
	browser.Repo.OnConflict = a.Metrics.Conflicts.Inc
	devices := &appoidc.Devices{Auth: auth, QR: logins, View: a.QRs}
	p, err := oidcop.New(oidcop.Options{
		Issuer: a.Config.Issuer, Signer: a.Signer, Clients: a.OIDCClients, ClientCmds: clients, Auth: auth, Accounts: a.Accounts,
		Devices: devices,
	})
	if err != nil {
		return oidcParts{}, err
	}
	if err := a.startBackChannel(p); err != nil {
		return oidcParts{}, err
	}
	logins.ClientName = func(id string) string {
		c, _ := a.OIDCClients.Get(id)
		return c.Name
	}
	return oidcParts{clients: clients, provider: p, devices: devices, signIn: &appoidc.SignIn{
		Auth: auth, QR: logins, Clients: a.OIDCClients, Accounts: a.Accounts, Browser: browser,
		Credentials: signInCredentials{a.Login},
	}, access: &appoidc.AccessTokens{Auth: auth, Browser: browser}}, nil
}

// startBackChannel runs the back-channel logout sender: the provider signs
// the tokens, the webhook delivery's retry settings apply.
func (a *App) startBackChannel(p *oidcop.Provider) error {
	cfg := a.Config
	tokens := func(ctx context.Context, ended events.BrowserSessionEnded) ([]delivery.Logout, error) {
		list, err := p.LogoutTokens(ctx, ended)
		out := make([]delivery.Logout, len(list))
		for i, l := range list {
			out[i] = delivery.Logout{ClientID: l.ClientID, URI: l.URI, Token: l.Token}
		}
		return out, err
	}
	bc, err := delivery.NewBackChannel(a.Store.JetStream(), tokens, a.Engine.WaitFor, delivery.Options{
		Attempts: cfg.WebhookAttempts, Backoff: cfg.WebhookBackoff, Timeout: cfg.WebhookTimeout,
		Logger: a.Log, Metrics: a.Metrics,
	})
	if err != nil {
		return err
	}
	a.BackChannel = bc
	return bc.Start(context.Background())
}

// deriveCodeKey is the MAC key of authorization codes, derived from the
// master key (through the one-time-code key): the same on every replica.
func deriveCodeKey(otpKey []byte) []byte {
	m := hmac.New(sha256.New, otpKey)
	m.Write([]byte("bindery oidc code v1"))
	return m.Sum(nil)
}
