package events

import (
	"context"
	"errors"
)

// Loaded is one aggregate of a transaction as the store holds it now.
type Loaded struct {
	Aggregate Aggregate
	Version   uint64 // sequence of its last event (0: none)
	Records   []Record
	hash      string
}

// Fold applies the aggregate's records to a state.
func (l Loaded) Fold(s interface{ Apply(Record) }) {
	for _, r := range l.Records {
		s.Apply(r)
	}
}

// Change is the change appending evs to the aggregate as loaded.
func (l Loaded) Change(evs ...Event) Change {
	return Change{Aggregate: l.Aggregate, Expected: l.Version, PrevHash: l.hash, Events: evs}
}

// Transact decides on several aggregates at once and stores every change in
// one Store.Append, which is atomic: all of them or none. It is Update for
// short-lived aggregates that several replicas write and that are never
// trusted from a cache (bind tickets, one-time codes): each attempt loads
// them fresh from the store, and a conflict makes it decide again on fresh
// state, after the same jittered backoff and up to as many attempts as
// Repository.Update. decide may be called several times and must not keep
// state between calls; changes without events are left out. When nothing
// is appended the position is that of the aggregates' last events.
func Transact(ctx context.Context, store Store, meta Meta, aggs []Aggregate, decide func([]Loaded) ([]Change, error)) (Position, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		ls := make([]Loaded, len(aggs))
		var seen Position
		for i, agg := range aggs {
			recs, err := store.Load(ctx, agg, 0)
			if err != nil {
				return Position{}, err
			}
			ls[i] = Loaded{Aggregate: agg, Records: recs}
			if n := len(recs); n > 0 {
				ls[i].Version, ls[i].hash = recs[n-1].Sequence, recs[n-1].Hash()
				seen = seen.Max(PositionOf(recs[n-1:]))
			}
		}
		changes, err := decide(ls)
		if err != nil {
			return Position{}, err
		}
		var out []Change
		for _, c := range changes {
			if len(c.Events) > 0 {
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return seen, nil
		}
		recs, err := store.Append(ctx, meta, out...)
		if errors.Is(err, ErrConflict) {
			if err := backoff(ctx, attempt); err != nil {
				return Position{}, err
			}
			continue
		}
		if err != nil {
			return Position{}, err
		}
		return PositionOf(recs), nil
	}
	return Position{}, ErrTooManyConflicts
}
