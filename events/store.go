package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Store appends events and reads an aggregate's history. Implementations
// make each Append atomic: every event and claim of it is stored, or none.
type Store interface {
	// Append stores the changes of one or more aggregates of one stream as a
	// unit. Each change names the sequence of the aggregate's last event that
	// the decision was made on; a stale one fails with ErrConflict.
	// It returns the stored records of the events, in order.
	Append(ctx context.Context, meta Meta, changes ...Change) ([]Record, error)
	// Load returns the aggregate's events stored after sequence after.
	Load(ctx context.Context, agg Aggregate, after uint64) ([]Record, error)
	// Version is the sequence of the aggregate's last event (0: none yet),
	// read from the store, not from a cache.
	Version(ctx context.Context, agg Aggregate) (uint64, error)
	// Owner says who holds a unique value now ("" when nobody).
	Owner(ctx context.Context, kind, value string) (string, error)
	// Head is the last sequence of each stream.
	Head(ctx context.Context) (Position, error)
}

// Change is what one decision appends to one aggregate.
type Change struct {
	Aggregate Aggregate
	Expected  uint64 // sequence of the last event the decision saw; 0 = new
	PrevHash  string // hash of that event ("" for a new aggregate)
	Events    []Event
}

// ErrConflict reports a stale expected sequence: someone else appended first.
var ErrConflict = errors.New("events: concurrent modification")

// ClaimTakenError reports a unique value that another owner holds.
type ClaimTakenError struct {
	Kind  string
	Owner string
}

func (e *ClaimTakenError) Error() string {
	return fmt.Sprintf("events: %s already belongs to another owner", e.Kind)
}

// Position is how far each stream reached: the sequences a command's events
// got, or what a projection has applied.
type Position struct {
	History uint64
	AuthLog uint64
}

// Max is the later of two positions, stream by stream.
func (p Position) Max(o Position) Position {
	if o.History > p.History {
		p.History = o.History
	}
	if o.AuthLog > p.AuthLog {
		p.AuthLog = o.AuthLog
	}
	return p
}

// Covers reports whether p has reached o on both streams.
func (p Position) Covers(o Position) bool {
	return p.History >= o.History && p.AuthLog >= o.AuthLog
}

// IsZero is true for the empty position.
func (p Position) IsZero() bool { return p.History == 0 && p.AuthLog == 0 }

// String is the opaque token clients echo back: "h<seq>.a<seq>".
func (p Position) String() string {
	return "h" + strconv.FormatUint(p.History, 10) + ".a" + strconv.FormatUint(p.AuthLog, 10)
}

// PositionOf is the position the records reached.
func PositionOf(recs []Record) Position {
	var p Position
	for _, r := range recs {
		if r.Stream == StreamAuthLog {
			p.AuthLog = max(p.AuthLog, r.Sequence)
		} else {
			p.History = max(p.History, r.Sequence)
		}
	}
	return p
}

// ErrBadPosition reports a position token that does not parse.
var ErrBadPosition = errors.New("events: malformed position token")

// ParsePosition reads a token made by Position.String.
func ParsePosition(s string) (Position, error) {
	h, a, ok := strings.Cut(s, ".")
	if !ok || len(h) < 2 || len(a) < 2 || h[0] != 'h' || a[0] != 'a' {
		return Position{}, ErrBadPosition
	}
	hs, err1 := strconv.ParseUint(h[1:], 10, 64)
	as, err2 := strconv.ParseUint(a[1:], 10, 64)
	if err1 != nil || err2 != nil {
		return Position{}, ErrBadPosition
	}
	return Position{History: hs, AuthLog: as}, nil
}

// Pipeliner is a Store that sends several appends before awaiting any
// answer: each group of changes is its own Append (its own checks, its
// own outcome; the order they are stored in is not defined). Where a
// store's answers wait for a disk sync, the groups share one.
type Pipeliner interface {
	AppendPipelined(ctx context.Context, meta Meta, groups ...[]Change) ([][]Record, []error)
}
