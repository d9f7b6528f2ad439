package events

import "context"

// Refresh brings the aggregate's cached state up to date with the store (an
// incremental read of what came after the cached version) and returns a
// copy of it with its version.
//
// Optimistic concurrency only checks decisions that append. A decision that
// appends nothing (a no-op, or a "not found" answer) rests on the cache, which
// another replica may have outdated; a command whose answer must hold across
// replicas refreshes first.
//
// Concurrent refreshes of one aggregate share store reads: a call answers
// the state of a read (or an append) that began after the call did, so it
// sees every event stored before it was called — on any replica — without
// a round trip of its own. Callers that queued behind one read are all
// answered by the next, instead of each reading in turn: a token that a
// hundred clients introspect at once costs a few reads, not a hundred.
func (r *Repository[S]) Refresh(ctx context.Context, id string) (S, uint64, error) {
	called := r.ticks.Add(1)
	l := r.lock(id)
	l.Lock()
	defer l.Unlock()
	if c := r.peek(id); c != nil && c.readAt > called {
		return c.state.Clone(), c.version, nil
	}
	c, err := r.load(ctx, id, true)
	if err != nil {
		var zero S
		return zero, 0, err
	}
	return c.state.Clone(), c.version, nil
}

// peek is the cached entry of id, if any, without touching the store.
func (r *Repository[S]) peek(id string) *cached[S] {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.items[id]; ok {
		return el.Value.(*cached[S])
	}
	return nil
}
