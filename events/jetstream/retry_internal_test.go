package jetstream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestGetMsgAsksAgainForWhatWentUnanswered(t *testing.T) {
	defer func(d time.Duration) { firstReadAttempt = d }(firstReadAttempt)
	firstReadAttempt = 20 * time.Millisecond
	want := &jetstream.RawStreamMsg{Sequence: 7}
	script := func(steps ...error) (func(context.Context) (*jetstream.RawStreamMsg, error), *int) {
		calls := 0
		return func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
			calls++
			if calls > len(steps) {
				return want, nil
			}
			if err := steps[calls-1]; err != context.DeadlineExceeded {
				return nil, err
			}
			<-ctx.Done() // a request nobody answers
			return nil, ctx.Err()
		}, &calls
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	read, calls := script(context.DeadlineExceeded, context.DeadlineExceeded)
	if m, err := getMsg(ctx, read); err != nil || m != want || *calls != 3 {
		t.Fatalf("after two lost requests: %v %v, %d calls", m, err, *calls)
	}
	read, calls = script(nats.ErrNoResponders, nats.ErrNoResponders)
	if m, err := getMsg(ctx, read); err != nil || m != want || *calls != 3 {
		t.Fatalf("after a stream without a leader: %v %v, %d calls", m, err, *calls)
	}
	notAvailable := &jetstream.APIError{Code: 503, ErrorCode: errClusterNotAvailable, Description: "JetStream system temporarily unavailable"}
	read, calls = script(notAvailable, notAvailable)
	if m, err := getMsg(ctx, read); err != nil || m != want || *calls != 3 {
		t.Fatalf("after a node without a meta leader answered first: %v %v, %d calls", m, err, *calls)
	}
	read, calls = script(&jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeBadRequest})
	if _, err := getMsg(ctx, read); err == nil || *calls != 1 {
		t.Fatalf("another API error is not asked again: %v, %d calls", err, *calls)
	}
	read, calls = script(jetstream.ErrMsgNotFound)
	if _, err := getMsg(ctx, read); !errors.Is(err, jetstream.ErrMsgNotFound) || *calls != 1 {
		t.Fatalf("an answer is not asked again: %v, %d calls", err, *calls)
	}
	// The caller's deadline ends it.
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	read, _ = script(context.DeadlineExceeded, context.DeadlineExceeded, context.DeadlineExceeded, context.DeadlineExceeded, context.DeadlineExceeded, context.DeadlineExceeded)
	start := time.Now()
	if _, err := getMsg(short, read); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("past the caller's deadline: %v after %s", err, time.Since(start))
	}
}
