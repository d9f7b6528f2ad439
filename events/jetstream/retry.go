package jetstream

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reads are idempotent, so a read whose request goes unanswered — lost while
// a stream elects its leader or a restarted node rejoins its routes — is
// asked again rather than waited for until the caller's deadline (in
// TestFaultsUnderLoad's listing, the requests that failed after a node came
// back had waited out their deadline on reads and appends nobody answered).
// Each attempt waits twice as long as the one before (a loaded server that
// is slow but answers still gets its time), all within the caller's context.
var firstReadAttempt = 2 * time.Second // a variable: tests make it short

// noLeaderPause is how long a read waits before it asks again after "no
// responders" (a stream without a leader for a moment) or "JetStream
// system temporarily unavailable".
const noLeaderPause = 250 * time.Millisecond

// errClusterNotAvailable (10008) is what a node answers every JetStream
// API request with while it knows no meta leader: a node cut off from its
// cluster, and for most of a second a node rejoining it after a partition
// heals. Every node hears a request, and the rejoining one answers first,
// before the stream's leader does (TestFaultsUnderLoad: up to 273 logins
// a run failed that way within a second of the heal); asked again a
// moment later, the leader answers.
const errClusterNotAvailable = 10008

// clusterNotAvailable reports whether err is that answer.
func clusterNotAvailable(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errClusterNotAvailable
}

// getMsg is a read of one stored message, retried as above.
func getMsg(ctx context.Context, read func(context.Context) (*jetstream.RawStreamMsg, error)) (*jetstream.RawStreamMsg, error) {
	attempt := firstReadAttempt
	for {
		actx, cancel := context.WithTimeout(ctx, attempt)
		m, err := read(actx)
		cancel()
		switch {
		case err == nil, ctx.Err() != nil:
			return m, err
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			attempt *= 2
		case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse), clusterNotAvailable(err):
			select {
			case <-ctx.Done():
				return m, err
			case <-time.After(noLeaderPause):
			}
		default:
			return m, err
		}
	}
}

// lastMsg is the stream's last message on subject, retried.
func lastMsg(ctx context.Context, st jetstream.Stream, subject string) (*jetstream.RawStreamMsg, error) {
	return getMsg(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return st.GetLastMsgForSubject(ctx, subject)
	})
}

// nextMsg is the stream's first message on subject at or after seq, retried.
func nextMsg(ctx context.Context, st jetstream.Stream, seq uint64, subject string) (*jetstream.RawStreamMsg, error) {
	return getMsg(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
	})
}
