package projections

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
)

// ChainBreak is a stored event whose prevhash is not the hash of its
// aggregate's previous event: it was not applied.
type ChainBreak struct {
	Stream   string `json:"stream"`
	Sequence uint64 `json:"sequence"`
	Subject  string `json:"subject"`
}

// chain is what one stream's applier knows of the hash chains: the short
// hash of each aggregate's last applied event, keyed by a 128-bit hash of
// the aggregate's subject prefix (a map without pointers, which the
// collector does not scan, at 24 bytes an entry). Only that stream's
// applier (or a snapshot, holding its apply lock) touches it.
type chain struct {
	links map[[16]byte]uint64
	// lenient accepts a prevhash on an aggregate's first event seen: the
	// auth log drops old events, and a snapshot from before this check
	// restores views without links.
	lenient bool
}

// maxBreaks bounds the breaks kept for /readyz (the counter counts all).
const maxBreaks = 20

// chainKey is the key of the aggregate of an event subject.
func chainKey(subject string) [16]byte {
	if i := strings.LastIndexByte(subject, '.'); i > 0 {
		subject = subject[:i]
	}
	sum := sha256.Sum256([]byte(subject))
	return [16]byte(sum[:16])
}

// link checks the item against its aggregate's last applied event and, when
// it fits, records it as the new last one. A break is logged, counted and
// remembered, and the item must not be applied.
func (e *Engine) link(i int, it *item) bool {
	c := &e.chains[i]
	prev, seen := c.links[it.key]
	var ok bool
	switch {
	case seen:
		ok = it.rec.ShortPrev() == prev
	case it.rec.Envelope.PrevHash == "":
		ok = true
	default:
		ok = c.lenient
	}
	if !ok {
		e.broke(ChainBreak{Stream: streamKinds[i], Sequence: it.seq, Subject: it.rec.Subject}, it.rec.Envelope.ID)
		return false
	}
	c.links[it.key] = it.hash
	return true
}

func (e *Engine) broke(b ChainBreak, id string) {
	e.brkMu.Lock()
	if len(e.breaks) < maxBreaks {
		e.breaks = append(e.breaks, b)
	}
	e.brkMu.Unlock()
	i := hist
	if b.Stream == events.StreamAuthLog {
		i = auth
	}
	e.brokenAt[i].CompareAndSwap(0, b.Sequence)
	e.opts.Logger.Error("event breaks its aggregate's hash chain: not applied; run binderyctl audit verify",
		"stream", b.Stream, "seq", b.Sequence, "subject", b.Subject, "id", id)
	if e.opts.OnChainBreak != nil {
		e.opts.OnChainBreak(b)
	}
}

// ChainBreaks lists the events the views refused for breaking their
// aggregate's chain (the first few), oldest first; nil when none did.
func (e *Engine) ChainBreaks() []ChainBreak {
	e.brkMu.Lock()
	defer e.brkMu.Unlock()
	return append([]ChainBreak(nil), e.breaks...)
}

// SealBound is how far a checkpoint of the stream kind may go: events up to
// the returned sequence were checked by the views (it waits a little for
// them to catch up with the stream's last event); broken reports that the
// bound stops before an event that breaks its chain.
func (e *Engine) SealBound(ctx context.Context, kind string) (uint64, bool) {
	i := hist
	if kind == events.StreamAuthLog {
		i = auth
	}
	if st, err := e.js.Stream(ctx, bjs.StreamName(kind)); err == nil {
		last, err := st.GetLastMsgForSubject(ctx, events.SubjectPrefix+">")
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			var want events.Position
			if i == hist {
				want.History = last.Sequence
			} else {
				want.AuthLog = last.Sequence
			}
			_ = e.WaitFor(wctx, want)
			cancel()
		} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return e.applied[i].Load(), false
		}
	}
	if b := e.brokenAt[i].Load(); b > 0 {
		return b - 1, true
	}
	return e.applied[i].Load(), false
}

// snapshotChains is the chain state in a snapshot: per stream the packed
// links (16-byte key, 8-byte hash), and the breaks seen.
type snapshotChains struct {
	Links  [2][]byte    `json:"links"`
	Breaks []ChainBreak `json:"breaks,omitempty"`
}

// captureChains packs the links; the caller holds both apply locks.
func (e *Engine) captureChains() *snapshotChains {
	s := &snapshotChains{Breaks: e.ChainBreaks()}
	for i := range e.chains {
		buf := make([]byte, 0, 24*len(e.chains[i].links))
		for k, h := range e.chains[i].links {
			buf = append(buf, k[:]...)
			buf = binary.BigEndian.AppendUint64(buf, h)
		}
		s.Links[i] = buf
	}
	return s
}

// restoreChains unpacks a snapshot's links; without them (a snapshot from
// before the check) first events are taken on trust.
func (e *Engine) restoreChains(s *snapshotChains) {
	if s == nil {
		e.chains[hist].lenient = true
		return
	}
	for i := range e.chains {
		buf := s.Links[i]
		m := make(map[[16]byte]uint64, len(buf)/24)
		for ; len(buf) >= 24; buf = buf[24:] {
			m[[16]byte(buf[:16])] = binary.BigEndian.Uint64(buf[16:24])
		}
		e.chains[i].links = m
	}
	for _, b := range s.Breaks {
		e.broke(b, "")
	}
}
