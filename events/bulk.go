package events

import "context"

// BulkLoader is implemented by stores that read the histories of many
// aggregates in a few round trips (bulk sync reads hundreds per batch).
type BulkLoader interface {
	// LoadMany returns every event of each aggregate, in order; aggregates
	// without events are absent.
	LoadMany(ctx context.Context, aggs []Aggregate) (map[Aggregate][]Record, error)
}

// RefreshMany is Refresh for many aggregates: with a BulkLoader store it
// reads them all at once, keeping the cached state of those whose version
// did not move; with another store it refreshes them one by one. It
// returns a copy of each state by id.
func (r *Repository[S]) RefreshMany(ctx context.Context, ids []string) (map[string]S, error) {
	out := make(map[string]S, len(ids))
	bl, ok := r.store.(BulkLoader)
	if !ok {
		for _, id := range ids {
			st, _, err := r.Refresh(ctx, id)
			if err != nil {
				return nil, err
			}
			out[id] = st
		}
		return out, nil
	}
	aggs := make([]Aggregate, len(ids))
	for i, id := range ids {
		aggs[i] = Aggregate{Type: r.typ, ID: id}
	}
	hist, err := bl.LoadMany(ctx, aggs)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		out[id] = r.refreshFrom(id, hist[aggs[i]])
	}
	return out, nil
}

// refreshFrom brings the cache of id to the history recs read from the
// store, unless it holds that version already, or a later one (a write of
// this process that came after the read).
func (r *Repository[S]) refreshFrom(id string, recs []Record) S {
	l := r.lock(id)
	l.Lock()
	defer l.Unlock()
	var last uint64
	if n := len(recs); n > 0 {
		last = recs[n-1].Sequence
	}
	r.mu.Lock()
	var c *cached[S]
	if el, ok := r.items[id]; ok {
		r.lru.MoveToFront(el)
		c = el.Value.(*cached[S])
	}
	r.mu.Unlock()
	if c == nil || c.version < last {
		c = &cached[S]{id: id, state: r.newState(id)}
		c.fold(recs)
		r.put(c)
	}
	return c.state.Clone()
}
