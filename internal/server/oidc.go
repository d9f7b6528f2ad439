package server

import (
	"context"

	"github.com/bindery/bindery/internal/app/apps"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
)

// openOIDCClients wires the OIDC client registrations.
func (a *App) openOIDCClients(found *apps.Service) *appoidc.Clients {
	c := appoidc.NewClients(timedStore{a.Store, a.Metrics}, a.Box, func(ctx context.Context, id string) error {
		_, err := found.Get(ctx, id)
		return err
	})
	c.Repo.OnConflict = a.Metrics.Conflicts.Inc
	return c
}
