package main

import (
	"context"
	"log/slog"

	"github.com/bindery/bindery/internal/app"
	"github.com/bindery/bindery/internal/config"
)

// runDev starts the demo stack in one process.
func runDev(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return oneLine(err)
	}
	return serve(ctx, a, func() {
		log.Info("dev mode: admin token is \"dev\"", "api", "http://"+cfg.HTTPAddr, "openapi", "http://"+cfg.HTTPAddr+"/openapi.yaml")
	})
}
