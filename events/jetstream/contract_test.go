package jetstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/events/storetest"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

// The store contract, on a single server (R1 streams) and on a 3-node
// cluster (R3 streams); each runs every clause on one server or cluster.
func TestStoreContract(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		url := natstest.Server(t, "").ClientURL()
		storetest.Run(t, contractBackend(url, 1))
	})
	t.Run("cluster", func(t *testing.T) {
		if testing.Short() {
			t.Skip("cluster")
		}
		storetest.Run(t, contractBackend(natstest.NewCluster(t).URLs(), 3))
	})
}

func contractBackend(url string, replicas int) storetest.Backend {
	return storetest.Backend{
		Open: func(t *testing.T, reg *events.Registry) events.Store { return openWith(t, url, replicas, reg) },
		Another: func(t *testing.T, s events.Store) events.Store {
			return openWith(t, url, replicas, s.(*bjs.Store).Registry())
		},
	}
}

// openWith opens a store with its own connection, retrying while a fresh
// cluster elects its leaders.
func openWith(t testing.TB, url string, replicas int, reg *events.Registry) *bjs.Store {
	t.Helper()
	nc := natstest.Connect(t, url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var s *bjs.Store
	var err error
	for ctx.Err() == nil {
		if s, err = bjs.Open(ctx, nc, reg, bjs.Config{Replicas: replicas, Timeout: 5 * time.Second}); err == nil {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("open store: %v", err)
	return nil
}
