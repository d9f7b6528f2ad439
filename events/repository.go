package events

import (
	"container/list"
	"context"
	"errors"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// State is an aggregate's folded state: Apply folds one event in, Clone gives
// a copy a decision may work on without touching the cached one.
type State[S any] interface {
	Apply(Record)
	Clone() S
}

// Repository loads aggregates of one type (from a bounded cache, catching up
// on what the store has beyond it) and appends decisions optimistically,
// deciding again on fresh state when another writer got there first.
type Repository[S State[S]] struct {
	store    Store
	typ      string
	newState func(id string) S
	attempts int

	// OnConflict, when set, is called for every optimistic-concurrency
	// conflict (for metrics).
	OnConflict func()

	// locks serialise the commands of one aggregate; an append holds its
	// stripe until the store acknowledges it (a sync of the disk), so
	// there are enough that a hundred concurrent commands on distinct
	// aggregates rarely wait for each other.
	locks [1024]sync.Mutex
	seed  maphash.Seed
	// ticks orders Refresh calls and store reads (refresh.go).
	ticks atomic.Uint64

	mu    sync.Mutex
	lru   *list.List
	items map[string]*list.Element
	max   int
}

type cached[S State[S]] struct {
	id      string
	state   S
	version uint64
	hash    string
	// readAt is the tick taken just before the store read (or the
	// append) that brought this entry up to date: a Refresh that began
	// before it may answer it without reading again (refresh.go).
	readAt uint64
}

// fold applies records in order; version and hash follow the last one.
// Each record's prevhash must be the hash of the one before (the cached
// last hash for the first): the link the chain needs anyway, so each record
// is hashed once. A break stops the fold with a *ChainBreakError and leaves
// c unusable (the caller drops it). The first event an empty entry sees
// must have no prevhash, except in the auth log, whose old events expire.
func (c *cached[S]) fold(recs []Record) error {
	for _, rec := range recs {
		if c.version != 0 || rec.Stream != StreamAuthLog {
			if rec.Envelope.PrevHash != c.hash {
				return &ChainBreakError{Stream: rec.Stream, Sequence: rec.Sequence, Subject: rec.Subject}
			}
		}
		c.state.Apply(rec)
		c.version, c.hash = rec.Sequence, rec.Hash()
	}
	return nil
}

// NewRepository returns a repository for aggregates of type typ.
func NewRepository[S State[S]](store Store, typ string, newState func(id string) S, cacheSize int) *Repository[S] {
	if cacheSize <= 0 {
		cacheSize = 10000
	}
	return &Repository[S]{
		store: store, typ: typ, newState: newState, attempts: maxAttempts,
		seed: maphash.MakeSeed(), lru: list.New(), items: map[string]*list.Element{}, max: cacheSize,
	}
}

// ErrTooManyConflicts is returned when every attempt met a concurrent writer.
var ErrTooManyConflicts = errors.New("events: too many concurrent modifications")

func (r *Repository[S]) lock(id string) *sync.Mutex {
	return &r.locks[r.stripe(id)]
}

// Get returns a copy of the aggregate's current state and its version (the
// sequence of its last event; 0 when it has none).
func (r *Repository[S]) Get(ctx context.Context, id string) (S, uint64, error) {
	l := r.lock(id)
	l.Lock()
	defer l.Unlock()
	c, err := r.load(ctx, id, false)
	if err != nil {
		var zero S
		return zero, 0, err
	}
	return c.state.Clone(), c.version, nil
}

// load returns the cached entry brought up to date with the store. With
// fresh=false a cached entry is trusted as is: appends detect staleness.
func (r *Repository[S]) load(ctx context.Context, id string, fresh bool) (*cached[S], error) {
	r.mu.Lock()
	el, ok := r.items[id]
	var c *cached[S]
	if ok {
		r.lru.MoveToFront(el)
		c = el.Value.(*cached[S])
	}
	r.mu.Unlock()
	if c != nil && !fresh {
		return c, nil
	}
	if c == nil {
		c = &cached[S]{id: id, state: r.newState(id)}
	} else {
		c = &cached[S]{id: id, state: c.state.Clone(), version: c.version, hash: c.hash}
	}
	readAt := r.ticks.Add(1)
	recs, err := r.store.Load(ctx, Aggregate{Type: r.typ, ID: id}, c.version)
	if err != nil {
		return nil, err
	}
	if err := c.fold(recs); err != nil {
		r.Forget(id)
		return nil, err
	}
	c.readAt = readAt
	r.put(c)
	return c, nil
}

func (r *Repository[S]) put(c *cached[S]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.items[c.id]; ok {
		el.Value = c
		r.lru.MoveToFront(el)
		return
	}
	r.items[c.id] = r.lru.PushFront(c)
	for r.lru.Len() > r.max {
		old := r.lru.Back()
		r.lru.Remove(old)
		delete(r.items, old.Value.(*cached[S]).id)
	}
}

// Forget drops a cached aggregate (tests, or after an unknown outcome).
func (r *Repository[S]) Forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.items[id]; ok {
		r.lru.Remove(el)
		delete(r.items, id)
	}
}

// Decision is what decide returns: the events to append to the aggregate
// and, optionally, changes to other aggregates of the same stream that must
// be stored atomically with them.
type Decision struct {
	Events []Event
	Also   []Change
}

// Update decides on the aggregate's current state and appends the result,
// retrying with fresh state on a conflict. decide may be called several
// times and must not keep state between calls. It returns the position the
// events reached and the state after them.
func (r *Repository[S]) Update(ctx context.Context, id string, meta Meta, decide func(S) (Decision, error)) (Position, S, error) {
	var zero S
	l := r.lock(id)
	l.Lock()
	defer l.Unlock()
	fresh := false
	for attempt := 0; attempt < r.attempts; attempt++ {
		c, err := r.load(ctx, id, fresh)
		if err != nil {
			return Position{}, zero, err
		}
		work := c.state.Clone()
		d, err := decide(work)
		if err != nil {
			return Position{}, zero, err
		}
		if len(d.Events) == 0 && len(d.Also) == 0 {
			// Nothing to append: the answer still names a position, the
			// aggregate's last event, so that a client retrying a command
			// can read its own (earlier) write on any replica.
			return r.versionPosition(c.version), work, nil
		}
		changes := append([]Change{{Aggregate: Aggregate{Type: r.typ, ID: id}, Expected: c.version, PrevHash: c.hash, Events: d.Events}}, d.Also...)
		appendAt := r.ticks.Add(1)
		recs, err := r.store.Append(ctx, meta, changes...)
		if errors.Is(err, ErrConflict) {
			if r.OnConflict != nil {
				r.OnConflict()
			}
			fresh = true
			if err := backoff(ctx, attempt); err != nil {
				return Position{}, zero, err
			}
			continue
		}
		if err != nil {
			// The outcome is unknown (a timeout after sending): drop the
			// cache so that the next command reads what the store holds.
			r.Forget(id)
			return Position{}, zero, err
		}
		// The append expected c.version, so the store held nothing else
		// of the aggregate when it took ours: the state after it is as
		// fresh as a read begun at appendAt.
		next := &cached[S]{id: id, state: c.state.Clone(), version: c.version, hash: c.hash, readAt: appendAt}
		if err := next.fold(recs[:len(d.Events)]); err != nil {
			r.Forget(id) // cannot happen: the store chained them from c.hash
			return Position{}, zero, err
		}
		r.put(next)
		return PositionOf(recs), next.state.Clone(), nil
	}
	return Position{}, zero, ErrTooManyConflicts
}

// maxAttempts is how often Update and Transact decide before giving up
// with ErrTooManyConflicts.
const maxAttempts = 6

// backoff waits a little after the conflict of attempt (0-based), with
// jitter — up to 1 ms, doubling with each attempt — so that racing replicas
// do not collide again in lockstep.
func backoff(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(rand.Int64N(int64(time.Millisecond) << attempt)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// versionPosition is the position of the aggregate's event at seq.
func (r *Repository[S]) versionPosition(seq uint64) Position {
	if StreamOf(r.typ) == StreamAuthLog {
		return Position{AuthLog: seq}
	}
	return Position{History: seq}
}
