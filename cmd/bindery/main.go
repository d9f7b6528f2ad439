// Command bindery runs the Bindery server ("bindery" or "bindery serve"),
// or the whole demo stack in one process ("bindery dev").
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bindery/bindery/internal/server"
	"github.com/bindery/bindery/internal/server/config"
)

func main() {
	args := os.Args[1:]
	mode := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "dev") {
		mode, args = args[0], args[1:]
	} else if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		fmt.Print("usage: bindery [serve|dev] [flags]\n\nsettings (flag, environment variable):\n" + config.Usage() +
			"\nbindery dev also runs the WeChat simulator on WXSIM_ADDR (default 127.0.0.1:8081).\n")
		return
	}
	if err := run(mode, args); err != nil {
		fmt.Fprintln(os.Stderr, "bindery:", err)
		os.Exit(1)
	}
}

func run(mode string, args []string) error {
	cfg, addrs, err := loadConfig(mode, args)
	if err != nil {
		return oneLine(err)
	}
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.LogLevel]
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	tuneGC(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if mode == "dev" {
		return runDev(ctx, cfg, addrs, log)
	}
	a, err := startServer(ctx, cfg, log)
	if err != nil {
		return oneLine(err)
	}
	return serve(ctx, a, nil)
}

// serve runs the API until a signal, then shuts down gracefully.
func serve(ctx context.Context, a *server.App, ready func()) error {
	errc := make(chan error, 1)
	go func() { errc <- a.Serve() }()
	a.Log.Info("bindery listening", "http", a.Config.HTTPAddr, "issuer", a.Config.Issuer, "embedded_nats", a.Embedded != nil)
	if ready != nil {
		ready()
	}
	select {
	case err := <-errc:
		a.Close()
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	a.Shutdown(sctx)
	a.Close()
	return nil
}

func oneLine(err error) error {
	s := err.Error()
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '\n' {
			out = append(out, ';', ' ')
			continue
		}
		out = append(out, r)
	}
	return fmt.Errorf("%s", string(out))
}
