package events

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
)

// Item is one aggregate of an UpdateMany.
type Item[S any] struct {
	ID string
	// New says the caller just made the id (a fresh UUID), so there is
	// nothing to load: the decision starts from the empty state. The append
	// still expects the aggregate to have no event, so a wrong hint is a
	// conflict, never a lost write.
	New bool
	// Decide decides on a copy of the aggregate's state, as Update's
	// decide does. It is called once.
	Decide func(S) (Decision, error)
}

// UpdateMany decides on several aggregates (distinct ids) and appends all
// their events in one Store.Append, which is atomic: every event and claim
// is stored, or none. Bulk commands use it to pay for one append instead
// of one per aggregate.
//
// An item whose Decide fails is left out; its error is in errs at the
// item's index. Unlike Update, UpdateMany does not retry: when the append
// fails (a stale decision, ErrConflict; a unique value someone else holds,
// *ClaimTakenError) nothing is stored and the caller decides what to do —
// typically Update per item, which re-decides on fresh state and tells
// which item was at fault.
func (r *Repository[S]) UpdateMany(ctx context.Context, meta Meta, items []Item[S]) (pos Position, errs []error, err error) {
	errs = make([]error, len(items))
	seen := make(map[string]bool, len(items))
	var stripes []int
	for _, it := range items {
		if seen[it.ID] {
			return Position{}, errs, fmt.Errorf("events: UpdateMany: %s %q twice", r.typ, it.ID)
		}
		seen[it.ID] = true
		stripes = append(stripes, r.stripe(it.ID))
	}
	// Lock the stripes in ascending order, so that two batches (or a
	// batch and an Update, which holds one stripe) cannot deadlock.
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		r.locks[i].Lock()
	}
	defer func() {
		for _, i := range stripes {
			r.locks[i].Unlock()
		}
	}()

	type planned struct {
		c     *cached[S]
		own   int // records of the item's own events (its first change)
		total int // records of all its changes (own and Also)
	}
	plans := make([]*planned, len(items))
	var changes []Change
	for i, it := range items {
		var c *cached[S]
		if it.New {
			c = &cached[S]{id: it.ID, state: r.newState(it.ID)}
		} else if c, err = r.load(ctx, it.ID, false); errors.Is(err, ErrChainBroken) {
			errs[i] = err // that item only: the others go on
			continue
		} else if err != nil {
			return Position{}, errs, err
		}
		d, derr := it.Decide(c.state.Clone())
		if derr != nil {
			errs[i] = derr
			continue
		}
		if len(d.Events) == 0 && len(d.Also) == 0 {
			continue
		}
		p := &planned{c: c, own: len(d.Events), total: len(d.Events)}
		for _, ch := range d.Also {
			p.total += len(ch.Events)
		}
		plans[i] = p
		changes = append(changes, Change{Aggregate: Aggregate{Type: r.typ, ID: it.ID}, Expected: c.version, PrevHash: c.hash, Events: d.Events})
		changes = append(changes, d.Also...)
	}
	if len(changes) == 0 {
		return Position{}, errs, nil
	}
	recs, err := r.store.Append(ctx, meta, changes...)
	var taken *ClaimTakenError
	switch {
	case errors.Is(err, ErrConflict) || errors.As(err, &taken):
		if errors.Is(err, ErrConflict) && r.OnConflict != nil {
			r.OnConflict()
		}
		return Position{}, errs, err
	case err != nil:
		// The outcome is unknown: the next command must read the store.
		for _, it := range items {
			r.Forget(it.ID)
		}
		return Position{}, errs, err
	}
	// The records come in the order of the changes; cache each item's
	// state after its own events.
	k := 0
	for i, it := range items {
		p := plans[i]
		if p == nil {
			continue
		}
		next := &cached[S]{id: it.ID, state: p.c.state.Clone(), version: p.c.version, hash: p.c.hash}
		if next.fold(recs[k:k+p.own]) == nil { // our own appends: they chain
			r.put(next)
		} else {
			r.Forget(it.ID)
		}
		k += p.total
	}
	return PositionOf(recs), errs, nil
}

// stripe is the index of the lock that serialises writers of id.
func (r *Repository[S]) stripe(id string) int {
	return int(maphash.String(r.seed, id) % uint64(len(r.locks)))
}
