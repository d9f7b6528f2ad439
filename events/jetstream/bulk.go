package jetstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
)

// loadManyChunk is how many aggregates one multi-last get asks for: each
// answers one message per distinct event name it has, and the server
// answers at most 1024 messages per request (a refused chunk is halved).
const loadManyChunk = 100

// LoadMany implements events.BulkLoader. Load walks an aggregate with
// next-by-subject gets over its wildcard subject; once the stream holds
// many subjects, the server answers the last of those gets (the one that
// finds nothing more) by scanning every later block — milliseconds per
// aggregate. LoadMany instead asks, for a hundred aggregates in one direct
// get, the last event of each of their subjects: when those events chain
// (each one's prevhash is the hash of the one before, the first has none),
// they are the whole history. An aggregate with a gap (two events of one
// name) is loaded up to its known last event, without the final probe.
// Streams that do not answer direct gets (replicated ones) fall back to
// concurrent Loads.
func (s *Store) LoadMany(ctx context.Context, aggs []events.Aggregate) (map[events.Aggregate][]events.Record, error) {
	out := make(map[events.Aggregate][]events.Record, len(aggs))
	byStream := map[string][]events.Aggregate{}
	for _, a := range aggs {
		k := events.StreamOf(a.Type)
		byStream[k] = append(byStream[k], a)
	}
	for kind, list := range byStream {
		if !directGets(s.stream(kind)) {
			if err := s.loadEach(ctx, list, out); err != nil {
				return nil, err
			}
			continue
		}
		for start := 0; start < len(list); start += loadManyChunk {
			if err := s.loadChunk(ctx, kind, list[start:min(start+loadManyChunk, len(list))], out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// loadChunk reads the chunk's aggregates with one multi-last get (halving
// the chunk when the server refuses it) and completes those with gaps.
func (s *Store) loadChunk(ctx context.Context, kind string, aggs []events.Aggregate, out map[events.Aggregate][]events.Record) error {
	filters := make([]string, len(aggs))
	byPrefix := make(map[string]events.Aggregate, len(aggs))
	for i, a := range aggs {
		filters[i] = a.Filter()
		byPrefix[events.SubjectPrefix+a.Type+"."+a.ID] = a
	}
	got := map[events.Aggregate][]events.Record{}
	err := s.lastBySubjects(ctx, StreamName(kind), filters, func(subj string, seq uint64, data []byte) error {
		agg, ok := byPrefix[subj[:max(0, strings.LastIndexByte(subj, '.'))]]
		if !ok {
			return fmt.Errorf("jetstream: multi-last get answered %s, not asked for", subj)
		}
		rec, err := events.DecodeRecord(s.reg, kind, seq, subj, data)
		if err != nil {
			return err
		}
		got[agg] = append(got[agg], rec)
		return nil
	})
	if errors.Is(err, errTooManyResults) && len(aggs) > 1 {
		half := len(aggs) / 2
		if err := s.loadChunk(ctx, kind, aggs[:half], out); err != nil {
			return err
		}
		return s.loadChunk(ctx, kind, aggs[half:], out)
	}
	if err != nil {
		return err
	}
	for agg, recs := range got {
		slices.SortFunc(recs, func(a, b events.Record) int { return cmp.Compare(a.Sequence, b.Sequence) })
		if chained(recs) {
			out[agg] = recs
			continue
		}
		full, err := s.loadUntil(ctx, agg, recs[len(recs)-1].Sequence)
		if err != nil {
			return err
		}
		out[agg] = full
	}
	return nil
}

// chained reports whether recs are a whole history: the first event has
// no predecessor and each next one names the hash of the one before.
func chained(recs []events.Record) bool {
	for i, r := range recs {
		want := ""
		if i > 0 {
			want = recs[i-1].Hash()
		}
		if r.Envelope.PrevHash != want {
			return false
		}
	}
	return true
}

// loadUntil is Load from the start that stops at the aggregate's last
// event (known), sparing the get that would find nothing after it.
func (s *Store) loadUntil(ctx context.Context, agg events.Aggregate, last uint64) ([]events.Record, error) {
	kind := events.StreamOf(agg.Type)
	st := s.stream(kind)
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var out []events.Record
	for seq := uint64(1); seq <= last; {
		m, err := nextMsg(ctx, st, seq, agg.Filter())
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("jetstream: load %s: %w", agg, err)
		}
		rec, err := events.DecodeRecord(s.reg, kind, m.Sequence, m.Subject, m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
		seq = m.Sequence + 1
	}
	return out, nil
}

// loadEach loads the aggregates one Load each, a few at a time.
func (s *Store) loadEach(ctx context.Context, aggs []events.Aggregate, out map[events.Aggregate][]events.Record) error {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
	)
	next := make(chan events.Aggregate)
	for range min(eachGetWorkers, len(aggs)) {
		wg.Go(func() {
			for a := range next {
				recs, err := s.Load(ctx, a, 0)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil && len(recs) > 0 {
					out[a] = recs
				}
				mu.Unlock()
			}
		})
	}
	for _, a := range aggs {
		next <- a
	}
	close(next)
	wg.Wait()
	return first
}

var _ events.BulkLoader = (*Store)(nil)
