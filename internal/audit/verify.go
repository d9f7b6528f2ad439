package audit

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
)

// Reasons a verification names.
const (
	ReasonAltered      = "altered"       // the bytes differ from what was sealed or linked
	ReasonMissing      = "missing"       // a sealed or linked message is gone
	ReasonReordered    = "reordered"     // messages are in another order than sealed
	ReasonNotCovered   = "not_covered"   // a message inside sealed ranges that no checkpoint covers
	ReasonBadSignature = "bad_signature" // a checkpoint that does not verify with a trusted key
)

// Finding is the first message that does not fit.
type Finding struct {
	Stream  string `json:"stream"`
	Seq     uint64 `json:"seq"`
	ID      string `json:"id,omitempty"`      // the CloudEvent id, when the message is there to read
	Subject string `json:"subject,omitempty"` // its NATS subject
	Reason  string `json:"reason"`
	Detail  string `json:"detail"`
}

// StreamReport is one stream's part of a report.
type StreamReport struct {
	FirstSeq    uint64 `json:"first_seq"`
	LastSeq     uint64 `json:"last_seq"`
	Events      int    `json:"events"`
	Claims      int    `json:"claims,omitempty"`
	Checkpoints int    `json:"checkpoints"`
	Sealed      int    `json:"sealed"`   // messages covered by verified checkpoints
	Unsealed    int    `json:"unsealed"` // messages after the last checkpoint (the next seal covers them)
	Expired     uint64 `json:"expired"`  // sealed messages the stream's retention has dropped since
}

// Report is the outcome of a verification.
type Report struct {
	OK          bool                    `json:"ok"`
	Events      int                     `json:"events"`
	Head        string                  `json:"head"`
	Checkpoints int                     `json:"checkpoints"`
	Unsealed    int                     `json:"unsealed"`
	Expired     uint64                  `json:"expired"`
	Streams     map[string]StreamReport `json:"streams"`
	FirstBad    *Finding                `json:"first_bad,omitempty"`
}

// Verifier checks both streams: every event's prevhash against its
// aggregate's previous event, and every checkpoint's signature, link and
// coverage against the messages there now.
type Verifier struct {
	JS   jetstream.JetStream
	Keys KeySet
	// Progress, when set, is called now and then with how far a stream is.
	Progress func(stream string, done, total uint64)
	// Consumers is how many ranges of each stream are read at once
	// (verify_ranges.go); 0 = DefaultConsumers.
	Consumers int
}

// Verify reads both streams to their current heads (in parallel) and
// reports. An error means the streams could not be read, not that they
// failed verification.
func (v *Verifier) Verify(ctx context.Context) (Report, error) {
	kinds := []string{events.StreamHistory, events.StreamAuthLog}
	checks := make([]*streamCheck, len(kinds))
	errs := make([]error, len(kinds))
	var wg sync.WaitGroup
	for i, kind := range kinds {
		checks[i] = &streamCheck{kind: kind, seal: SealSubject(kind), keys: v.Keys, aggs: map[[16]byte]aggLink{}, progress: v.Progress,
			consumers: cmp.Or(v.Consumers, DefaultConsumers)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = checks[i].run(ctx, v.JS)
		}()
	}
	wg.Wait()
	rep := Report{OK: true, Streams: map[string]StreamReport{}}
	var head events.Position
	for i, c := range checks {
		if errs[i] != nil {
			return Report{}, errs[i]
		}
		rep.Streams[c.kind] = c.rep
		rep.Events += c.rep.Events
		rep.Checkpoints += c.rep.Checkpoints
		rep.Unsealed += c.rep.Unsealed
		rep.Expired += c.rep.Expired
		if c.kind == events.StreamAuthLog {
			head.AuthLog = c.rep.LastSeq
		} else {
			head.History = c.rep.LastSeq
		}
		if c.finding != nil && rep.FirstBad == nil {
			rep.OK, rep.FirstBad = false, c.finding
		}
	}
	rep.Head = head.String()
	return rep, nil
}

func aggKey(prefix string) [16]byte {
	sum := sha256.Sum256([]byte(prefix))
	return [16]byte(sum[:16])
}

type aggLink struct {
	seq  uint64
	hash [32]byte
}

type pend struct {
	seq  uint64
	leaf [32]byte
}

// chainBreak is a prevhash that does not fit; which message is to blame is
// settled at the end, once it is known which were sealed.
type chainBreak struct {
	pred, succ uint64 // pred 0: the predecessor is not in the stream at all
	agg        string
}

type streamCheck struct {
	kind      string
	seal      string
	keys      KeySet
	progress  func(string, uint64, uint64)
	consumers int

	st       jetstream.Stream
	expiring bool // the stream's limits drop old messages
	aggs     map[[16]byte]aggLink
	pending  []pend
	prevCk   *ckRef
	verified uint64 // every covered message up to here matched a checkpoint
	chain    *chainBreak
	bad      *Finding // from the message itself (undecodable, mislabelled)
	finding  *Finding
	rep      StreamReport
}

type ckRef struct {
	seq, to uint64
	hash    string
}

func (c *streamCheck) run(ctx context.Context, js jetstream.JetStream) error {
	name := bjs.StreamName(c.kind)
	st, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("audit: stream %s: %w", name, err)
	}
	c.st = st
	info := st.CachedInfo()
	cfg := info.Config
	// Only the auth log may drop old messages: the history keeps
	// everything, whatever limits someone set on it.
	c.expiring = c.kind == events.StreamAuthLog && (cfg.MaxAge > 0 || cfg.MaxMsgs > 0 || cfg.MaxBytes > 0)
	c.rep.FirstSeq, c.rep.LastSeq = info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil
	}
	if c.rep.FirstSeq > 1 && !c.expiring {
		c.finding = &Finding{Stream: c.kind, Seq: 1, Reason: ReasonMissing,
			Detail: fmt.Sprintf("the stream starts at sequence %d but keeps everything: messages 1..%d are gone", c.rep.FirstSeq, c.rep.FirstSeq-1)}
		return nil
	}
	total := c.rep.LastSeq - c.rep.FirstSeq + 1
	var n uint64
	err = scanRanges(ctx, js, name, c.seal, c.rep.FirstSeq-1, c.rep.LastSeq, c.consumers, func(m *scanned) bool {
		c.consume(m)
		if n++; c.progress != nil && n%8192 == 0 {
			c.progress(c.kind, m.seq-c.rep.FirstSeq+1, total)
		}
		return c.finding == nil
	})
	if err != nil {
		return err
	}
	if c.progress != nil {
		c.progress(c.kind, total, total)
	}
	c.rep.Unsealed = len(c.pending)
	c.settle(ctx)
	return nil
}

func (c *streamCheck) fail(seq uint64, reason, format string, args ...any) {
	c.finding = &Finding{Stream: c.kind, Seq: seq, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

func (c *streamCheck) checkpoint(seq uint64, data []byte) {
	var ck Checkpoint
	if err := json.Unmarshal(data, &ck); err != nil {
		c.fail(seq, ReasonBadSignature, "checkpoint at %d is not readable", seq)
		return
	}
	if err := ck.VerifySignature(c.keys); err != nil {
		c.fail(seq, ReasonBadSignature, "checkpoint at %d: %v", seq, err)
		return
	}
	if ck.Stream != c.kind {
		c.fail(seq, ReasonReordered, "checkpoint at %d belongs to the %s stream", seq, ck.Stream)
		return
	}
	if ck.ExpiredUnsealed > 0 && !c.expiring {
		c.fail(ck.FromSeq-ck.ExpiredUnsealed, ReasonMissing, "checkpoint at %d says %d messages before %d were gone when it was made, but this stream keeps everything", seq, ck.ExpiredUnsealed, ck.FromSeq)
		return
	}
	hash := checkpointHash(data)
	switch {
	case c.prevCk != nil:
		if ck.PrevCheckpointSeq == c.prevCk.seq && ck.PrevCheckpointHash != c.prevCk.hash {
			c.fail(c.prevCk.seq, ReasonAltered, "the bytes of checkpoint %d no longer hash to the link checkpoint %d signed", c.prevCk.seq, seq)
			return
		}
		if ck.PrevCheckpointHash != c.prevCk.hash || ck.PrevCheckpointSeq != c.prevCk.seq {
			c.fail(seq, ReasonMissing, "checkpoint at %d follows checkpoint %d, but the one before it here is at %d: a checkpoint or messages before it were removed", seq, ck.PrevCheckpointSeq, c.prevCk.seq)
			return
		}
		if ck.FromSeq != c.prevCk.to+1+ck.ExpiredUnsealed {
			c.fail(c.prevCk.to+1, ReasonNotCovered, "checkpoints at %d and %d leave a gap in coverage", c.prevCk.seq, seq)
			return
		}
	case ck.PrevCheckpointSeq == 0:
		if ck.PrevCheckpointHash != "" || ck.FromSeq != 1+ck.ExpiredUnsealed {
			c.fail(seq, ReasonNotCovered, "the first checkpoint (at %d) does not start at the stream's beginning", seq)
			return
		}
	case !(c.expiring && ck.PrevCheckpointSeq < c.rep.FirstSeq):
		c.fail(ck.PrevCheckpointSeq, ReasonMissing, "checkpoint at %d follows checkpoint %d, which is not in the stream", seq, ck.PrevCheckpointSeq)
		return
	}
	seqs := ck.covered()
	leaves, ok := ck.leaves()
	if seqs == nil || !ok || len(leaves) != len(seqs) {
		c.fail(seq, ReasonBadSignature, "checkpoint at %d is malformed (its range, count and leaves disagree)", seq)
		return
	}
	// Messages the retention dropped since they were sealed.
	full := true
	if c.prevCk == nil && c.expiring {
		drop := 0
		for drop < len(seqs) && seqs[drop] < c.rep.FirstSeq {
			drop++
		}
		if drop > 0 {
			c.rep.Expired += uint64(drop)
			seqs, leaves, full = seqs[drop:], leaves[drop:], false
		}
	}
	d := newDigester()
	for k := range seqs {
		if k >= len(c.pending) {
			c.fail(seqs[k], ReasonMissing, "message %d, sealed by the checkpoint at %d, is not in the stream", seqs[k], seq)
			return
		}
		o := c.pending[k]
		if o.seq == seqs[k] && [leafPrefix]byte(o.leaf[:leafPrefix]) == leaves[k] {
			d.add(o.seq, o.leaf)
			continue
		}
		c.mismatch(k, seqs, leaves, seq)
		return
	}
	if full && d.digest() != ck.Digest {
		c.fail(ck.FromSeq, ReasonAltered, "messages %d..%d do not hash to the digest the checkpoint at %d signed", ck.FromSeq, ck.ToSeq, seq)
		return
	}
	c.pending = c.pending[len(seqs):]
	c.rep.Sealed += len(seqs)
	c.rep.Checkpoints++
	c.verified = ck.ToSeq
	c.prevCk = &ckRef{seq: seq, to: ck.ToSeq, hash: hash}
}

// mismatch names what went wrong at the k-th covered message.
func (c *streamCheck) mismatch(k int, seqs []uint64, leaves [][leafPrefix]byte, ckSeq uint64) {
	o := c.pending
	same := func(i, j int) bool {
		return i < len(o) && j < len(leaves) && [leafPrefix]byte(o[i].leaf[:leafPrefix]) == leaves[j]
	}
	switch {
	case same(k, k):
		c.fail(seqs[k], ReasonMissing, "the sealed message %d is now at %d: messages before it were removed", seqs[k], o[k].seq)
	case same(k, k+1) && same(k+1, k):
		c.fail(o[k].seq, ReasonReordered, "messages %d and %d are in another order than the checkpoint at %d sealed", o[k].seq, o[k+1].seq, ckSeq)
		c.finding.Seq = o[k].seq
	case same(k, k+1):
		c.fail(seqs[k], ReasonMissing, "message %d, sealed by the checkpoint at %d, is gone", seqs[k], ckSeq)
	case same(k+1, k):
		c.fail(o[k].seq, ReasonNotCovered, "message %d sits inside the range the checkpoint at %d sealed, which does not cover it", o[k].seq, ckSeq)
	default:
		c.fail(o[k].seq, ReasonAltered, "message %d differs from what the checkpoint at %d sealed", o[k].seq, ckSeq)
	}
}

// settle turns what the scan saw into the finding, and names the event.
func (c *streamCheck) settle(ctx context.Context) {
	if c.finding == nil {
		switch {
		case c.bad != nil && (c.chain == nil || c.bad.Seq <= max(c.chain.pred, c.chain.succ)):
			c.finding = c.bad
		case c.chain != nil && c.chain.pred == 0:
			c.fail(c.chain.succ, ReasonMissing, "the event links to a previous event of %s that is not in the stream", c.chain.agg)
		case c.chain != nil && c.chain.pred <= c.verified:
			// The predecessor is sealed and intact: the successor changed.
			c.fail(c.chain.succ, ReasonAltered, "its prevhash does not match the previous event of %s (at %d)", c.chain.agg, c.chain.pred)
		case c.chain != nil:
			c.fail(c.chain.pred, ReasonAltered, "the next event of %s (at %d) links to other bytes than these", c.chain.agg, c.chain.succ)
		}
	}
	f := c.finding
	if f == nil || f.Reason == ReasonMissing || f.ID != "" || c.st == nil {
		return
	}
	if m, err := c.st.GetMsg(ctx, f.Seq); err == nil {
		f.Subject = m.Subject
		if env, ok := readEnvelope(m.Data); ok {
			f.ID = env.ID
		}
	}
}
