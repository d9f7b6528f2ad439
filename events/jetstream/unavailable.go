package jetstream

import (
	"context"
	"errors"
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// IsUnavailable reports whether err means JetStream could not be reached or
// did not answer — the connection is down or reconnecting, a request timed
// out, a stream has no leader for the moment (an election after a node
// died, a partition) — rather than that it refused the request. Such a
// request may succeed when tried again; the API answers 503 with
// Retry-After.
func IsUnavailable(err error) bool {
	for _, e := range []error{
		nats.ErrTimeout, nats.ErrNoResponders, nats.ErrConnectionClosed, nats.ErrConnectionReconnecting,
		nats.ErrNoServers, nats.ErrDisconnected, nats.ErrConnectionDraining, nats.ErrStaleConnection,
		jetstream.ErrNoStreamResponse, jetstream.ErrNoHeartbeat, context.DeadlineExceeded,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	var api *jetstream.APIError
	return errors.As(err, &api) && api.Code == http.StatusServiceUnavailable
}
