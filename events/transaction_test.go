package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/bindery/bindery/events"
)

// seqStore is the least Store a transaction needs: per-aggregate
// histories, optimistic concurrency on Expected, one sequence per stream.
// rival, when set, appends to an aggregate just before Append checks, as
// a concurrent writer would.
type seqStore struct {
	mu    sync.Mutex
	seq   map[string]uint64
	aggs  map[events.Aggregate][]events.Record
	rival func(s *seqStore)
	tries int
}

func newSeqStore() *seqStore {
	return &seqStore{seq: map[string]uint64{}, aggs: map[events.Aggregate][]events.Record{}}
}

func (s *seqStore) put(agg events.Aggregate, e events.Event) events.Record {
	stream := events.StreamOf(agg.Type)
	s.seq[stream]++
	r := events.Record{Stream: stream, Sequence: s.seq[stream], Subject: events.SubjectPrefix + agg.Type + "." + agg.ID + "." + e.EventName(), Event: e, Raw: fmt.Appendf(nil, "%d", s.seq[stream])}
	s.aggs[agg] = append(s.aggs[agg], r)
	return r
}

func (s *seqStore) Append(_ context.Context, _ events.Meta, cs ...events.Change) ([]events.Record, error) {
	s.tries++
	if s.rival != nil {
		s.rival(s)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		var v uint64
		if h := s.aggs[c.Aggregate]; len(h) > 0 {
			v = h[len(h)-1].Sequence
		}
		if v != c.Expected {
			return nil, events.ErrConflict
		}
	}
	var out []events.Record
	for _, c := range cs {
		for _, e := range c.Events {
			out = append(out, s.put(c.Aggregate, e))
		}
	}
	return out, nil
}

func (s *seqStore) Load(_ context.Context, agg events.Aggregate, after uint64) ([]events.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []events.Record
	for _, r := range s.aggs[agg] {
		if r.Sequence > after {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *seqStore) Version(ctx context.Context, agg events.Aggregate) (uint64, error) {
	recs, _ := s.Load(ctx, agg, 0)
	if len(recs) == 0 {
		return 0, nil
	}
	return recs[len(recs)-1].Sequence, nil
}

func (s *seqStore) Owner(context.Context, string, string) (string, error) { return "", nil }

func (s *seqStore) Head(context.Context) (events.Position, error) {
	return events.Position{History: s.seq[events.StreamHistory], AuthLog: s.seq[events.StreamAuthLog]}, nil
}

// counter counts ticket_attempt_failed events (a stand-in state).
type counter struct{ n int }

func (c *counter) Apply(r events.Record) {
	if _, ok := r.Event.(events.TicketAttemptFailed); ok {
		c.n++
	}
}

// Given two aggregates, when a transaction decides on both, then both
// changes are stored in one append; a concurrent writer makes it decide
// again on fresh state; one that never stops exhausts the attempts.
func TestTransact(t *testing.T) {
	ticket := events.Aggregate{Type: "ticket", ID: "t1"}
	otp := events.Aggregate{Type: "otp", ID: "o1"}
	fail := events.TicketAttemptFailed{Method: "bind_otp", Reason: "invalid_otp"}
	decide := func(seen *[]int) func([]events.Loaded) ([]events.Change, error) {
		return func(ls []events.Loaded) ([]events.Change, error) {
			var c counter
			ls[0].Fold(&c)
			*seen = append(*seen, c.n)
			return []events.Change{ls[0].Change(fail), ls[1].Change(events.OTPFailed{Ticket: "t1", TriesLeft: 4}), ls[1].Change()}, nil
		}
	}
	ctx := context.Background()

	t.Run("one append", func(t *testing.T) {
		s := newSeqStore()
		var seen []int
		pos, err := events.Transact(ctx, s, events.Meta{}, []events.Aggregate{ticket, otp}, decide(&seen))
		if err != nil || pos != (events.Position{AuthLog: 2}) || s.tries != 1 || len(s.aggs[ticket]) != 1 || len(s.aggs[otp]) != 1 {
			t.Fatalf("pos %v err %v tries %d stored %v", pos, err, s.tries, s.aggs)
		}
	})
	t.Run("a conflict decides again on fresh state", func(t *testing.T) {
		s := newSeqStore()
		s.rival = func(s *seqStore) {
			if s.tries == 1 {
				s.mu.Lock()
				s.put(ticket, fail)
				s.mu.Unlock()
			}
		}
		var seen []int
		_, err := events.Transact(ctx, s, events.Meta{}, []events.Aggregate{ticket, otp}, decide(&seen))
		if err != nil || fmt.Sprint(seen) != "[0 1]" || len(s.aggs[ticket]) != 2 {
			t.Fatalf("err %v, decided on %v, ticket %v", err, seen, s.aggs[ticket])
		}
	})
	t.Run("endless conflicts", func(t *testing.T) {
		s := newSeqStore()
		s.rival = func(s *seqStore) { s.mu.Lock(); s.put(otp, events.OTPVerified{Ticket: "x"}); s.mu.Unlock() }
		var seen []int
		_, err := events.Transact(ctx, s, events.Meta{}, []events.Aggregate{ticket, otp}, decide(&seen))
		if !errors.Is(err, events.ErrTooManyConflicts) || s.tries != 6 || len(s.aggs[ticket]) != 0 {
			t.Fatalf("err %v after %d tries; ticket %v", err, s.tries, s.aggs[ticket])
		}
	})
	t.Run("nothing to append names the last events", func(t *testing.T) {
		s := newSeqStore()
		s.put(otp, events.OTPVerified{Ticket: "x"})
		pos, err := events.Transact(ctx, s, events.Meta{}, []events.Aggregate{ticket, otp}, func(ls []events.Loaded) ([]events.Change, error) {
			return []events.Change{ls[0].Change()}, nil
		})
		if err != nil || pos != (events.Position{AuthLog: 1}) || s.tries != 0 {
			t.Fatalf("pos %v err %v tries %d", pos, err, s.tries)
		}
	})
	t.Run("a decision's error", func(t *testing.T) {
		s := newSeqStore()
		boom := errors.New("refused")
		if _, err := events.Transact(ctx, s, events.Meta{}, []events.Aggregate{ticket}, func([]events.Loaded) ([]events.Change, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a cancelled context stops the backoff", func(t *testing.T) {
		s := newSeqStore()
		s.rival = func(s *seqStore) { s.mu.Lock(); s.put(otp, events.OTPVerified{Ticket: "x"}); s.mu.Unlock() }
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		var seen []int
		if _, err := events.Transact(ctx, s, events.Meta{}, []events.Aggregate{ticket, otp}, decide(&seen)); !errors.Is(err, context.Canceled) || s.tries != 1 {
			t.Fatalf("err %v after %d tries", err, s.tries)
		}
	})
}
