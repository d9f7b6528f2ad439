// Package projections turns the event streams into in-memory lookup views.
// The Engine feeds every view from one ordered consumer per stream, in
// stream order, snapshots them to disk so that a restart resumes where it
// stopped, and lets queries wait until a command's position is applied.
package projections

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
)

// Projection is one view. Reducers is its table of event type → reducer
// (reducer.go), read once by New; the reducers run in
// stream order, possibly from the history and the auth-log goroutines at
// once, so a view guards its own state. Snapshot and Restore persist the
// view between runs.
type Projection interface {
	Name() string
	Reducers() []Reducer
	Snapshot() (json.RawMessage, error)
	Restore(json.RawMessage) error
}

// Options configure the engine.
type Options struct {
	SnapshotPath  string        // "" = no snapshots
	SnapshotEvery time.Duration // default 30s
	// SnapshotSeal, when set, encrypts the snapshot file: it holds the
	// views, and so personal data (SPEC §8).
	SnapshotSeal SnapshotSealer
	Logger       *slog.Logger
	// OnApply, when set, observes each applied record (metrics: lag). A
	// record of a type no view reduces comes without its Event: the engine
	// does not decode what nothing reads.
	OnApply func(events.Record)
	// OnChainBreak, when set, observes each event refused for breaking its
	// aggregate's hash chain (metrics; the engine logs it at ERROR).
	OnChainBreak func(ChainBreak)
	// CatchUpGCPercent is the process's GC percentage until the engine is
	// ready (catchup.go): 0 = DefaultCatchUpGCPercent, < 0 = unchanged.
	CatchUpGCPercent int
}

// Engine runs the projections.
type Engine struct {
	js       jetstream.JetStream
	reg      *events.Registry
	views    []Projection
	dispatch Dispatch
	reduced  map[string]bool // the CloudEvents types some view reduces
	opts     Options

	applyMu [2]sync.Mutex // held while a stream applies; both for a snapshot
	applied [2]atomic.Uint64
	ready   [2]atomic.Bool
	target  [2]uint64 // stream heads at start: caught up once reached

	caughtUp func() // ends the catch-up's GC setting; nil when none

	waiters atomic.Int64
	mu      sync.Mutex
	changed chan struct{}

	snapCreated [2]time.Time
	// snapMu makes snapshots one at a time, so that the one captured last
	// is the one left on disk (an erasure's snapshot must not be replaced
	// by an older capture that finished writing after it).
	snapMu sync.Mutex

	chains   [2]chain
	brokenAt [2]atomic.Uint64 // the first break of each stream
	brkMu    sync.Mutex
	breaks   []ChainBreak

	cancel context.CancelFunc
	done   sync.WaitGroup
	errMu  sync.Mutex
	err    error
}

const (
	hist = 0
	auth = 1
)

var streamKinds = [2]string{events.StreamHistory, events.StreamAuthLog}

// New returns an engine over the given views.
func New(js jetstream.JetStream, reg *events.Registry, opts Options, views ...Projection) *Engine {
	if opts.SnapshotEvery == 0 {
		opts.SnapshotEvery = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{js: js, reg: reg, views: views, dispatch: NewDispatch(views...), reduced: map[string]bool{}, opts: opts, changed: make(chan struct{})}
	for _, t := range Handles(views...) {
		e.reduced[t] = true
	}
	for i := range e.chains {
		e.chains[i].links = map[[16]byte]uint64{}
	}
	e.chains[auth].lenient = true // its old events expire
	return e
}

// Start restores the last snapshot (when it still fits the streams) and
// starts consuming after it.
func (e *Engine) Start(ctx context.Context) error {
	var created [2]time.Time
	for i, kind := range streamKinds {
		st, err := e.js.Stream(ctx, bjs.StreamName(kind))
		if err != nil {
			return fmt.Errorf("projections: stream %s: %w", kind, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		created[i] = info.Created
		// Caught up means: the last *event* applied. Claims and seals come
		// after it in the stream but are not for the views.
		last, err := st.GetLastMsgForSubject(ctx, events.SubjectPrefix+">")
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			e.target[i] = 0
		case err != nil:
			return fmt.Errorf("projections: stream %s: %w", kind, err)
		default:
			e.target[i] = last.Sequence
		}
	}
	if e.opts.CatchUpGCPercent >= 0 {
		e.caughtUp = beginCatchUp(cmp.Or(e.opts.CatchUpGCPercent, DefaultCatchUpGCPercent))
	}
	e.restore(created)
	for i := range streamKinds {
		if e.applied[i].Load() >= e.target[i] {
			e.ready[i].Store(true)
		}
	}
	e.endCatchUpWhenReady()
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	for i, kind := range streamKinds {
		cons, err := e.consumer(ctx, kind, e.applied[i].Load())
		if err != nil {
			cancel()
			if e.caughtUp != nil {
				e.caughtUp()
			}
			return err
		}
		e.done.Add(1)
		go e.run(runCtx, i, cons)
	}
	if e.opts.SnapshotPath != "" {
		e.done.Add(1)
		go e.snapshotLoop(runCtx)
	}
	return nil
}

func (e *Engine) consumer(ctx context.Context, kind string, after uint64) (jetstream.Consumer, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.SubjectPrefix + ">"}}
	if after > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	}
	cons, err := e.js.OrderedConsumer(ctx, bjs.StreamName(kind), cfg)
	if err != nil {
		return nil, fmt.Errorf("projections: consumer on %s: %w", kind, err)
	}
	return cons, nil
}

// item is a decoded message on its way from the decoders to the applier.
type item struct {
	rec     events.Record
	err     error
	seq     uint64
	pending uint64
	key     [16]byte // chainKey of the subject
	hash    uint64   // events.ShortHash of the stored bytes
}

// fetched is a message as read, before decoding.
type fetched struct {
	subject string
	data    []byte
	seq     uint64
	pending uint64
}

// decodeJob is one batch for a decoder; done receives it decoded.
type decodeJob struct {
	msgs []fetched
	done chan []item
}

// batchMax is how many messages go to a decoder at once during a replay.
const batchMax = 256

// run reads the stream in one goroutine, decodes batches in several (one
// per core: decoding, opening sealed values and hashing are the cost of a
// replay) and applies them in stream order in this one.
func (e *Engine) run(ctx context.Context, i int, cons jetstream.Consumer) {
	defer e.done.Done()
	it, err := cons.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		e.fail(err)
		return
	}
	go func() { <-ctx.Done(); it.Stop() }()
	kind := streamKinds[i]
	decoders := runtime.GOMAXPROCS(0)
	jobs := make(chan decodeJob, decoders)
	// ordered holds each batch's result in stream order; its capacity is
	// how far the decoders may run ahead of the applier.
	ordered := make(chan chan []item, 2*decoders+2)
	for range decoders {
		go func() {
			for job := range jobs {
				job.done <- e.decode(kind, job.msgs)
			}
		}()
	}
	go func() {
		defer close(ordered)
		defer close(jobs)
		var batch []fetched
		for {
			msg, err := it.Next()
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				e.opts.Logger.Warn("projection consumer", "stream", kind, "err", err)
				continue
			}
			md, err := msg.Metadata()
			if err != nil {
				continue
			}
			if batch == nil {
				// A live event comes alone: a batch of 256 slots for each
				// one is garbage the GC pays for.
				batch = make([]fetched, 0, min(batchMax, md.NumPending+1))
			}
			batch = append(batch, fetched{subject: msg.Subject(), data: msg.Data(), seq: md.Sequence.Stream, pending: md.NumPending})
			// Hand over a full batch, or whatever is there once the
			// stream has nothing more pending (so live events are not held).
			if len(batch) == batchMax || md.NumPending == 0 {
				done := make(chan []item, 1)
				select {
				case jobs <- decodeJob{msgs: batch, done: done}:
				case <-ctx.Done():
					return
				}
				select {
				case ordered <- done:
				case <-ctx.Done():
					return
				}
				batch = nil
			}
		}
	}()
	for done := range ordered {
		e.apply(i, <-done)
	}
}

// decode turns fetched messages into items (any number of decoders at once).
// Only the payloads of types some view reduces are opened and decoded: the
// others (most of the auth log: logins, sessions) need only the envelope,
// for the hash chain and the metrics.
func (e *Engine) decode(kind string, msgs []fetched) []item {
	out := make([]item, len(msgs))
	for k, m := range msgs {
		rec, err := events.DecodeRecordOf(e.reg, e.reducedType, kind, m.seq, m.subject, m.data)
		out[k] = item{rec: rec, err: err, seq: m.seq, pending: m.pending}
		if err == nil {
			out[k].key, out[k].hash = chainKey(m.subject), events.ShortHash(m.data)
		}
	}
	return out
}

func (e *Engine) reducedType(t string) bool { return e.reduced[t] }

// apply reduces one decoded batch, in order, under the stream's apply lock.
func (e *Engine) apply(i int, batch []item) {
	kind := streamKinds[i]
	e.applyMu[i].Lock()
	for k := range batch {
		it := &batch[k]
		if it.err != nil {
			e.opts.Logger.Error("undecodable event skipped", "stream", kind, "seq", it.seq, "err", it.err)
		} else if it.seq > e.applied[i].Load() && e.link(i, it) {
			e.dispatch.Apply(it.rec)
		}
		e.applied[i].Store(it.seq)
	}
	e.applyMu[i].Unlock()
	last := batch[len(batch)-1]
	if !e.ready[i].Load() && (last.pending == 0 || last.seq >= e.target[i]) {
		e.ready[i].Store(true)
		e.endCatchUpWhenReady()
	}
	if e.opts.OnApply != nil {
		for _, it := range batch {
			if it.err == nil {
				e.opts.OnApply(it.rec)
			}
		}
	}
	if e.waiters.Load() > 0 {
		e.notify()
	}
}

func (e *Engine) notify() {
	e.mu.Lock()
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

func (e *Engine) fail(err error) {
	e.errMu.Lock()
	e.err = err
	e.errMu.Unlock()
	e.opts.Logger.Error("projection engine stopped", "err", err)
}

// Position is what the views have applied.
func (e *Engine) Position() events.Position {
	return events.Position{History: e.applied[hist].Load(), AuthLog: e.applied[auth].Load()}
}

// Ready reports whether the views caught up with the streams as they were
// at start (and the consumers run).
func (e *Engine) Ready() bool {
	e.errMu.Lock()
	failed := e.err != nil
	e.errMu.Unlock()
	return !failed && e.ready[hist].Load() && e.ready[auth].Load()
}

// ErrNotReached is returned by WaitFor when the context ends first.
var ErrNotReached = errors.New("projections: position not reached in time")

// WaitFor blocks until the views have applied pos, or ctx ends.
func (e *Engine) WaitFor(ctx context.Context, pos events.Position) error {
	if e.Position().Covers(pos) {
		return nil
	}
	e.waiters.Add(1)
	defer e.waiters.Add(-1)
	for {
		e.mu.Lock()
		ch := e.changed
		e.mu.Unlock()
		if e.Position().Covers(pos) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ErrNotReached
		}
	}
}

// Changed returns a channel closed at the next applied event: a view's
// long-poll waits on it (together with WaitFor's waiter count).
func (e *Engine) Changed() (<-chan struct{}, func()) {
	e.waiters.Add(1)
	e.mu.Lock()
	ch := e.changed
	e.mu.Unlock()
	return ch, func() { e.waiters.Add(-1) }
}

// endCatchUpWhenReady ends the catch-up's GC setting once both streams are.
func (e *Engine) endCatchUpWhenReady() {
	if e.caughtUp != nil && e.ready[hist].Load() && e.ready[auth].Load() {
		e.caughtUp()
	}
}

// Close stops the consumers and writes a last snapshot.
func (e *Engine) Close() error {
	if e.cancel != nil {
		e.cancel()
	}
	e.done.Wait()
	if e.caughtUp != nil {
		e.caughtUp() // closed before it was ready
	}
	if e.opts.SnapshotPath != "" && e.snapCreated != ([2]time.Time{}) {
		return e.SaveSnapshot()
	}
	return nil
}
