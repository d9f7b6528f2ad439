package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/bindery/bindery/internal/devtools/devstack"
	"github.com/bindery/bindery/internal/server/config"
)

// loadConfig reads the settings of a mode; in dev mode also where the
// WeChat simulator and the demo web app listen.
func loadConfig(mode string, args []string) (*config.Config, devstack.Addrs, error) {
	if mode == "dev" {
		return devstack.LoadConfig(args, os.Getenv)
	}
	cfg, err := config.Load(args, os.Getenv, false)
	return cfg, devstack.Addrs{}, err
}

// runDev starts the demo stack in one process (embedded NATS, the WeChat
// simulator, bindery with the demo pages and the demo app), prints where to
// look, and stops it all on Ctrl-C.
func runDev(ctx context.Context, cfg *config.Config, addrs devstack.Addrs, log *slog.Logger) error {
	st, err := devstack.Start(ctx, cfg, addrs, log)
	if err != nil {
		return oneLine(err)
	}
	st.Banner(os.Stdout)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-st.Err():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st.Close(sctx)
	return runErr
}
