package audit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
)

// DefaultSealInterval is how often a server seals when not told otherwise.
const DefaultSealInterval = 10 * time.Second

// Sealer appends checkpoints to both streams. Any number of replicas may
// run one: each checkpoint is published expecting the seal subject's last
// sequence to be the previous checkpoint's, so when two race, one stores
// its checkpoint and the other's is refused and dropped, and the chain
// never forks.
type Sealer struct {
	JS       jetstream.JetStream
	Keys     *Keyring
	Interval time.Duration // 0 = DefaultSealInterval; < 0 = only on demand
	Now      func() time.Time
	Log      *slog.Logger
	// Max bounds the messages one checkpoint covers (MaxPerCheckpoint).
	Max int
	// Bound, when set, says how far a checkpoint of a stream may go: the
	// events the views checked, stopping before one that breaks its
	// aggregate's hash chain (broken). Checkpoints never cover an event
	// past it; other messages (claims) past it may be covered.
	Bound func(ctx context.Context, kind string) (limit uint64, broken bool)
	// OnHeld, when set, is called each time a round stops before a break.
	OnHeld func(kind string)

	mu sync.Mutex // one round at a time in this process
}

// Sealed describes one stored checkpoint.
type Sealed struct {
	Stream   string `json:"stream"`
	Sequence uint64 `json:"sequence"` // where the checkpoint is stored
	FromSeq  uint64 `json:"from_seq"`
	ToSeq    uint64 `json:"to_seq"`
	Count    int    `json:"count"`
}

// Run seals every Interval until ctx ends.
func (s *Sealer) Run(ctx context.Context) {
	iv := s.Interval
	if iv == 0 {
		iv = DefaultSealInterval
	}
	if iv < 0 {
		return
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Seal(ctx); err != nil && ctx.Err() == nil && s.Log != nil {
				s.Log.Warn("audit seal", "err", err)
			}
		}
	}
}

// errRaced reports that another sealer stored a checkpoint first.
var errRaced = errors.New("audit: another sealer got there first")

// Seal covers everything appended since the last checkpoints, on both
// streams, and returns what it stored. Losing a race to another replica is
// not an error: that replica sealed.
func (s *Sealer) Seal(ctx context.Context) ([]Sealed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Sealed
	for _, kind := range []string{events.StreamHistory, events.StreamAuthLog} {
		got, err := s.sealStream(ctx, kind)
		out = append(out, got...)
		if errors.Is(err, errRaced) {
			continue
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (s *Sealer) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// lastCheckpoint reads a stream's last checkpoint, if any.
func lastCheckpoint(ctx context.Context, st jetstream.Stream, kind string) (*Checkpoint, uint64, string, error) {
	m, err := st.GetLastMsgForSubject(ctx, SealSubject(kind))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, "", nil
	}
	if err != nil {
		return nil, 0, "", fmt.Errorf("audit: last checkpoint of %s: %w", kind, err)
	}
	var c Checkpoint
	if err := json.Unmarshal(m.Data, &c); err != nil {
		return nil, 0, "", fmt.Errorf("audit: last checkpoint of %s (seq %d) is unreadable: %w", kind, m.Sequence, err)
	}
	return &c, m.Sequence, checkpointHash(m.Data), nil
}

func (s *Sealer) sealStream(ctx context.Context, kind string) ([]Sealed, error) {
	name := bjs.StreamName(kind)
	st, err := s.JS.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("audit: stream %s: %w", name, err)
	}
	info := st.CachedInfo()
	prev, prevSeq, prevHash, err := lastCheckpoint(ctx, st, kind)
	if err != nil {
		return nil, err
	}
	from := uint64(1)
	if prev != nil {
		from = prev.ToSeq + 1
	}
	head := info.State.LastSeq
	if head < from {
		return nil, nil // nothing new
	}
	cur, err := openCursor(ctx, s.JS, name, nil, from-1, head)
	if err != nil {
		return nil, err
	}
	defer cur.close()
	limit := s.Max
	if limit <= 0 || limit > MaxPerCheckpoint {
		limit = MaxPerCheckpoint
	}
	bound, broken := head, false
	if s.Bound != nil {
		bound, broken = s.Bound(ctx, kind)
	}
	var out []Sealed
	seal := SealSubject(kind)
	held := false
	for {
		ck := Checkpoint{Version: CheckpointVersion, Stream: kind, PrevCheckpointHash: prevHash, PrevCheckpointSeq: prevSeq}
		d := newDigester()
		for d.count < limit {
			msg, seq, err := cur.next()
			if err != nil {
				return out, err
			}
			if msg == nil {
				break
			}
			if seq > bound && strings.HasPrefix(msg.Subject, events.SubjectPrefix) {
				held = true
				break
			}
			if ck.FromSeq == 0 {
				ck.FromSeq = seq
				if seq > from {
					ck.ExpiredUnsealed = seq - from
				}
			}
			ck.ToSeq = seq
			if msg.Subject == seal {
				ck.Skip = append(ck.Skip, seq)
				continue
			}
			d.add(seq, LeafHash(msg.Subject, sha256.Sum256(msg.Data)))
		}
		if d.count == 0 {
			s.held(kind, held, broken, bound)
			return out, nil // only checkpoints since the last one
		}
		ck.Count = d.count
		ck.Digest = d.digest()
		ck.Leaves = base64.StdEncoding.EncodeToString(d.leaves)
		ck.SignedAt = s.now()
		ck.Sign(s.Keys.keyID, s.Keys.private)
		data, _ := json.Marshal(ck)
		seq, err := s.publish(ctx, seal, data, prevSeq, ck)
		if err != nil {
			return out, err
		}
		out = append(out, Sealed{Stream: kind, Sequence: seq, FromSeq: ck.FromSeq, ToSeq: ck.ToSeq, Count: ck.Count})
		prevSeq, prevHash = seq, checkpointHash(data)
		from = ck.ToSeq + 1
		if held || cur.done() {
			s.held(kind, held, broken, bound)
			return out, nil
		}
	}
}

// held reports a round that stopped before an event that breaks its chain.
func (s *Sealer) held(kind string, held, broken bool, bound uint64) {
	if !held || !broken {
		return
	}
	if s.Log != nil {
		s.Log.Error("audit seal stops before an event that breaks its aggregate's hash chain; run binderyctl audit verify",
			"stream", kind, "seq", bound+1)
	}
	if s.OnHeld != nil {
		s.OnHeld(kind)
	}
}

// publish stores a checkpoint if the seal subject's last message is still
// the previous checkpoint.
func (s *Sealer) publish(ctx context.Context, subject string, data []byte, prevSeq uint64, ck Checkpoint) (uint64, error) {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(prevSeq, 10))
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("checkpoint.%s.%d.%d", ck.Stream, ck.FromSeq, ck.ToSeq))
	ack, err := s.JS.PublishMsg(ctx, m)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == 10071 || apiErr.ErrorCode == 10164) {
			return 0, errRaced
		}
		return 0, fmt.Errorf("audit: store checkpoint: %w", err)
	}
	if ack.Duplicate {
		return 0, errRaced
	}
	return ack.Sequence, nil
}
