package jetstream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

func TestPlainAckReadsOnlyTheStoredShape(t *testing.T) {
	for _, c := range []struct {
		in   string
		seq  uint64
		read bool
	}{
		{`{"stream":"BINDERY_AUTHLOG","seq":42}`, 42, true},
		{`{"stream":"S","seq":9223372036854775807}`, 9223372036854775807, true},
		{`{"stream":"S","seq":18446744073709551615}`, 0, false}, // 20 digits: encoding/json's
		{`{"stream":"S","seq":42,"duplicate":true}`, 0, false},
		{`{"stream":"S","seq":42,"batch":"b","count":2}`, 0, false},
		{`{"stream":"S","domain":"hub","seq":42}`, 0, false},
		{`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"S","seq":0}`, 0, false},
		{`{"stream":"S","seq":0}`, 0, false},
		{`{"stream":"S","seq":-1}`, 0, false},
		{`{"stream":"S","seq":4x}`, 0, false},
		{`{"stream":"S","seq":}`, 0, false},
		{`{"stream":"S"`, 0, false},
		{``, 0, false},
	} {
		seq, ok := plainAck([]byte(c.in))
		if ok != c.read || seq != c.seq {
			t.Errorf("plainAck(%s) = %d, %v; want %d, %v", c.in, seq, ok, c.seq, c.read)
		}
	}
	// What it leaves goes through encoding/json as before.
	refusal := `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"S","seq":0}`
	if _, err := parseAck([]byte(refusal)); !errors.Is(err, events.ErrConflict) {
		t.Errorf("parseAck(refusal) = %v, want a conflict", err)
	}
	if seq, err := parseAck([]byte(`{"stream":"S","seq":18446744073709551615}`)); err != nil || seq != 18446744073709551615 {
		t.Errorf("parseAck(20 digits) = %d, %v", seq, err)
	}
}

// The server's acknowledgement of a plain publish is the shape plainAck
// reads, so an append takes the fast path (were it not, appends would
// still work, through encoding/json, and this test says so).
func TestTheServersAckIsPlain(t *testing.T) {
	nc := natstest.Connect(t, natstest.Server(t, "").ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ACKS", Subjects: []string{"acks.>"}}); err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 2; want++ {
		reply, err := nc.RequestWithContext(ctx, "acks.one", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if seq, ok := plainAck(reply.Data); !ok || seq != want {
			t.Fatalf("plainAck(%s) = %d, %v; want %d, true", reply.Data, seq, ok, want)
		}
	}
}
