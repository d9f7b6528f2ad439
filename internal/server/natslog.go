package server

import (
	"log/slog"

	"github.com/nats-io/nats.go"
)

// natsEventLogging logs what happens to the connection to an external
// NATS: which server it left and why, which one it found again. During a
// fault these lines say which node each replica was talking to, and when
// it left a node that went dark (pings every 2 s, see New). The URLs are
// redacted.
func natsEventLogging(log *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			log.Warn("nats disconnected", "server", nc.ConnectedServerName(), "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Warn("nats reconnected", "server", nc.ConnectedServerName(), "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("nats error", "server", nc.ConnectedServerName(), "subject", subject, "err", err)
		}),
	}
}
