// Package apps holds the commands of login schemes (apps) and the lookup
// that logins find their app with.
package apps

import (
	"github.com/bindery/bindery/domain/app"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/projections"
)

// AAD prefixes that bind an app's sealed secrets to the app and purpose.
const (
	SecretAAD       = "app-secret:"
	VerifySecretAAD = "app-verify-secret:"
)

// View is the app read model (projections.Apps).
type View interface {
	Get(id string) (projections.App, bool)
}

// Service handles the login-scheme commands and finds apps for logins.
type Service struct {
	Repo *events.Repository[*app.App]
	Box  *secrets.Box
	View View
}

// New wires the app commands to a store and the app view.
func New(store events.Store, box *secrets.Box, view View) *Service {
	usecase.Require("apps.New", "store", store, "box", box, "view", view)
	return &Service{Repo: events.NewRepository(store, events.AggregateApp, app.New, 1000), Box: box, View: view}
}

// Secret opens the app's WeChat or host secret.
func (s *Service) Secret(a projections.App) ([]byte, error) {
	return s.Box.Open(a.SecretSealed, SecretAAD+a.ID)
}

// VerifySecret opens the secret of the app's verify account source.
func (s *Service) VerifySecret(a projections.App) ([]byte, error) {
	return s.Box.Open(a.AccountSource.SecretSealed, VerifySecretAAD+a.ID)
}
