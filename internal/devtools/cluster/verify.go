package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stored is what the checks read of one stored event.
type Stored struct {
	Sequence  uint64
	Type      string
	RequestID string
	Data      json.RawMessage
}

// ReadStream reads every message of stream through any running node,
// decoding the event envelopes (claims and seals, which are not envelopes,
// come back with an empty Type). Right after a fault is healed the stream
// may still be electing its leader (the JetStream API answers "no
// responders" or times out), so a failed read is tried again, on the next
// running node, until a minute has passed.
func (n *NATS) ReadStream(ctx context.Context, stream string) ([]Stored, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	for attempt := 0; ; attempt++ {
		i := attempt % len(n.nodes)
		if n.nodes[i].cmd != nil {
			out, err := n.readStreamThrough(ctx, i, stream)
			if err == nil {
				return out, nil
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: read %s: %w (last error: %v)", stream, ctx.Err(), last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// readStreamThrough reads every message of stream once, through node i.
func (n *NATS) readStreamThrough(ctx context.Context, i int, stream string) ([]Stored, error) {
	nc, err := nats.Connect(n.DirectURL(i), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	last := st.CachedInfo().State.LastSeq
	if last == 0 {
		return nil, nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	var out []Stored
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			var env struct {
				Type      string          `json:"type"`
				RequestID string          `json:"requestid"`
				Data      json.RawMessage `json:"data"`
			}
			_ = json.Unmarshal(m.Data(), &env)
			out = append(out, Stored{Sequence: meta.Sequence.Stream, Type: env.Type, RequestID: env.RequestID, Data: env.Data})
			if meta.Sequence.Stream >= last {
				return out, nil
			}
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if got == 0 {
			return nil, fmt.Errorf("%s: fetch returned nothing before sequence %d", stream, last)
		}
	}
}
