package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/server"
	"github.com/bindery/bindery/internal/server/config"
)

// startupBudget is how long `bindery serve` keeps trying to reach NATS and
// set up its streams at start-up. Processes of one deployment start in any
// order: a replica may come up before its NATS nodes, or while the cluster
// is still placing peers ("no suitable peers for placement").
const startupBudget = 60 * time.Second

// startServer is server.New, tried again with backoff while the error is one
// that a NATS server or cluster coming up answers; any other error, or the
// budget spent, ends the start. The embedded server is not waited for.
func startServer(ctx context.Context, cfg *config.Config, log *slog.Logger) (*server.App, error) {
	deadline := time.Now().Add(startupBudget)
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		a, err := server.New(ctx, cfg, log)
		if err == nil || cfg.NATSURL == "" || !transientStartError(err) || time.Now().Add(wait).After(deadline) {
			return a, err
		}
		log.Warn("waiting for NATS JetStream", "attempt", attempt, "err", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// transientStartError reports whether err is what a NATS server or
// JetStream cluster that is not up yet answers.
func transientStartError(err error) bool {
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch {
		case api.Code == 503, // temporarily unavailable, not enabled yet
			api.ErrorCode == 10005, // no suitable peers for placement
			api.ErrorCode == 10008: // JetStream system temporarily unavailable
			return true
		}
		return false
	}
	return errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrNoStreamResponse)
}
