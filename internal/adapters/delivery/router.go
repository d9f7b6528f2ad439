package delivery

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// runRouter starts a Watermill router (Watermill's info lines as debug,
// panics recovered) with the handlers add adds, and waits until it runs.
// done is closed when the router stops; what names it in errors and logs.
func runRouter(ctx context.Context, log *slog.Logger, what string, add func(*message.Router)) (router *message.Router, done chan struct{}, err error) {
	logger := watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	router, err = message.NewRouter(message.RouterConfig{CloseTimeout: 15 * time.Second}, logger)
	if err != nil {
		return nil, nil, err
	}
	router.AddMiddleware(middleware.Recoverer)
	add(router)
	done = make(chan struct{})
	go func() {
		defer close(done)
		if err := router.Run(context.Background()); err != nil {
			log.Error(what+" router stopped", "err", err)
		}
	}()
	select {
	case <-router.Running():
		return router, done, nil
	case <-done:
		return nil, nil, errors.New(what + ": router did not start")
	case <-ctx.Done():
		_ = router.Close()
		<-done
		return nil, nil, ctx.Err()
	}
}
