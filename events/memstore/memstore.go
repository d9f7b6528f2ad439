// Package memstore is an in-memory events.Store for tests: the same
// optimistic appends, atomic uniqueness claims, per-stream sequences and
// envelopes as the JetStream store, without a server.
package memstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/bindery/bindery/events"
)

// Store is an in-memory events.Store, safe for concurrent use. Like the
// JetStream store it keeps two streams, numbered from 1 each: the history
// (history aggregates' events and every claim message) and the auth log.
type Store struct {
	reg *events.Registry

	hook func(ctx context.Context, changes []events.Change) error

	mu      sync.RWMutex
	streams map[string]*stream
	claims  map[events.ClaimKey]claim
	log     []entry // every stored event, in the order of storing
}

// stream is one stream's messages: the last sequence it assigned, and each
// aggregate's events.
type stream struct {
	last uint64
	aggs map[events.Aggregate][]entry
}

type entry struct {
	stream  string
	seq     uint64
	subject string
	raw     []byte
}

// claim is a unique value's current state: who holds it ("" = released)
// and the history sequence of the message that said so.
type claim struct {
	owner string
	seq   uint64
}

var (
	_ events.Store       = (*Store)(nil)
	_ events.BulkLoader  = (*Store)(nil)
	_ events.OwnerLister = (*Store)(nil)
)

// Option changes a new store.
type Option func(*Store)

// WithRegistry makes the store encode and decode with reg instead of
// events.Catalogue() (tests with their own event types).
func WithRegistry(reg *events.Registry) Option { return func(s *Store) { s.reg = reg } }

// New returns an empty store that knows the events of events.Catalogue().
func New(opts ...Option) *Store {
	s := &Store{
		reg: events.Catalogue(),
		streams: map[string]*stream{
			events.StreamHistory: {aggs: map[events.Aggregate][]entry{}},
			events.StreamAuthLog: {aggs: map[events.Aggregate][]entry{}},
		},
		claims: map[events.ClaimKey]claim{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Registry is the event registry the store encodes and decodes with.
func (s *Store) Registry() *events.Registry { return s.reg }

// BeforeAppend sets a function every Append calls first, with the changes:
// when it returns an error, Append returns it and stores nothing. Tests use
// it to fail an append (ErrConflict) or to append something else first, as
// a concurrent writer would. nil removes it.
func (s *Store) BeforeAppend(fn func(ctx context.Context, changes []events.Change) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = fn
}

// Append implements events.Store. The changes are encoded by
// events.Prepare, as the JetStream store encodes them; then, under one
// lock, the claims are checked (a value someone else holds is a
// *events.ClaimTakenError), the expected sequences (a stale one is
// events.ErrConflict), and only when all hold is anything stored: the
// events, then the claim messages, with consecutive sequences.
func (s *Store) Append(ctx context.Context, meta events.Meta, changes ...events.Change) ([]events.Record, error) {
	s.mu.RLock()
	hook := s.hook
	s.mu.RUnlock()
	if hook != nil {
		if err := hook(ctx, changes); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: append: %w", err)
	}
	p, err := events.Prepare(ctx, s.reg, meta, changes)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	type write struct {
		key   events.ClaimKey
		owner string
	}
	var writes []write
	for _, c := range p.Claims {
		key := events.ClaimKey{Kind: c.Kind, Value: c.Value}
		ok, owner, err := c.Against(s.claims[key].owner)
		if err != nil {
			return nil, err
		}
		if ok {
			writes = append(writes, write{key, owner})
		}
	}
	if len(writes) > 0 && p.Stream != events.StreamHistory {
		// Claims live in the history stream; one atomic batch cannot
		// write to two streams.
		return nil, events.ErrTwoStreams
	}
	st := s.streams[p.Stream]
	for _, c := range p.Checks {
		if lastSeq(st.aggs[c.Aggregate]) != c.Expected {
			return nil, events.ErrConflict
		}
	}
	recs := p.Records
	for i := range recs {
		st.last++
		recs[i].Sequence = st.last
		e := entry{stream: p.Stream, seq: st.last, subject: recs[i].Subject, raw: recs[i].Raw}
		agg := recs[i].Aggregate()
		st.aggs[agg] = append(st.aggs[agg], e)
		s.log = append(s.log, e)
	}
	hist := s.streams[events.StreamHistory]
	for _, w := range writes {
		hist.last++
		s.claims[w.key] = claim{owner: w.owner, seq: hist.last}
	}
	return recs, nil
}

func lastSeq(es []entry) uint64 {
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].seq
}

// Load implements events.Store.
func (s *Store) Load(ctx context.Context, agg events.Aggregate, after uint64) ([]events.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: load %s: %w", agg, err)
	}
	s.mu.RLock()
	es := s.streams[events.StreamOf(agg.Type)].aggs[agg]
	s.mu.RUnlock() // entries are never changed once stored
	var out []events.Record
	for _, e := range es {
		if e.seq <= after {
			continue
		}
		rec, err := s.decode(e)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func (s *Store) decode(e entry) (events.Record, error) {
	return events.DecodeRecord(s.reg, e.stream, e.seq, e.subject, e.raw)
}

// LoadMany implements events.BulkLoader: Load for each aggregate;
// aggregates without events are absent.
func (s *Store) LoadMany(ctx context.Context, aggs []events.Aggregate) (map[events.Aggregate][]events.Record, error) {
	out := make(map[events.Aggregate][]events.Record, len(aggs))
	for _, a := range aggs {
		recs, err := s.Load(ctx, a, 0)
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 {
			out[a] = recs
		}
	}
	return out, nil
}

// Version implements events.Store.
func (s *Store) Version(ctx context.Context, agg events.Aggregate) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memstore: version of %s: %w", agg, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return lastSeq(s.streams[events.StreamOf(agg.Type)].aggs[agg]), nil
}

// Owner implements events.Store.
func (s *Store) Owner(ctx context.Context, kind, value string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("memstore: read claim: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.claims[events.ClaimKey{Kind: kind, Value: value}].owner, nil
}

// Owners implements events.OwnerLister; values nobody holds are absent.
func (s *Store) Owners(ctx context.Context, keys []events.ClaimKey) (map[events.ClaimKey]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: read claims: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[events.ClaimKey]string, len(keys))
	for _, k := range keys {
		if o := s.claims[k].owner; o != "" {
			out[k] = o
		}
	}
	return out, nil
}

// Head implements events.Store.
func (s *Store) Head(ctx context.Context) (events.Position, error) {
	if err := ctx.Err(); err != nil {
		return events.Position{}, fmt.Errorf("memstore: head: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return events.Position{History: s.streams[events.StreamHistory].last, AuthLog: s.streams[events.StreamAuthLog].last}, nil
}

// Given appends evs to agg after whatever agg holds (the store supplies
// the expected sequence and the prevhash): the "given these events" of a
// use-case test. It returns the position the events reached.
func (s *Store) Given(agg events.Aggregate, evs ...events.Event) (events.Position, error) {
	s.mu.RLock()
	es := s.streams[events.StreamOf(agg.Type)].aggs[agg]
	s.mu.RUnlock()
	ch := events.Change{Aggregate: agg, Expected: lastSeq(es), Events: evs}
	if n := len(es); n > 0 {
		ch.PrevHash = events.HashBytes(es[n-1].raw)
	}
	recs, err := s.Append(context.Background(), events.Meta{Actor: "given"}, ch)
	return events.PositionOf(recs), err
}

// EventsSince is Since without the envelopes: the payloads appended after
// pos, in order, for "then these events are appended".
func (s *Store) EventsSince(pos events.Position) []events.Event {
	recs := s.Since(pos)
	out := make([]events.Event, len(recs))
	for i, r := range recs {
		out[i] = r.Event
	}
	return out
}

// Since returns every event stored after pos (on either stream), in the
// order they were stored: what a command appended, for "then these events"
// assertions. Pass the Head read before the command.
func (s *Store) Since(pos events.Position) []events.Record {
	s.mu.RLock()
	log := s.log
	s.mu.RUnlock()
	var out []events.Record
	for _, e := range log {
		if (e.stream == events.StreamAuthLog && e.seq > pos.AuthLog) || (e.stream != events.StreamAuthLog && e.seq > pos.History) {
			rec, err := s.decode(e)
			if err != nil {
				// Only Prepare's encoding is ever stored: it decodes.
				panic(err)
			}
			out = append(out, rec)
		}
	}
	return out
}
