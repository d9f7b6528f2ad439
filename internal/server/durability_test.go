package server_test

import (
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/testenv"
	"github.com/bindery/bindery/internal/server/natsrv"
)

// The server as configured by default embeds a nats-server whose writes
// are on disk before Bindery sees their acknowledgement (the group
// policy); BINDERY_NATS_SYNC reaches the running server.
func TestEmbeddedNATSSyncsBeforeAcknowledgingByDefault(t *testing.T) {
	if e := testenv.Start(t, "", nil).App.Embedded; e.Sync != natsrv.PolicyGroup {
		t.Fatalf("embedded sync policy %q by default, want %q", e.Sync, natsrv.PolicyGroup)
	}
	jsc := testenv.Start(t, "", map[string]string{"BINDERY_NATS_SYNC": "always"}).App.Embedded.Server.JetStreamConfig()
	if jsc == nil || !jsc.SyncAlways {
		t.Fatalf("with BINDERY_NATS_SYNC=always, JetStream config %+v: want SyncAlways", jsc)
	}
	jsc = testenv.Start(t, "", map[string]string{"BINDERY_NATS_SYNC": "30s"}).App.Embedded.Server.JetStreamConfig()
	if jsc == nil || jsc.SyncAlways || jsc.SyncInterval != 30*time.Second {
		t.Fatalf("with BINDERY_NATS_SYNC=30s, JetStream config %+v: want a 30s interval, SyncAlways off", jsc)
	}
}
