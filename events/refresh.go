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
func (r *Repository[S]) Refresh(ctx context.Context, id string) (S, uint64, error) {
	l := r.lock(id)
	l.Lock()
	defer l.Unlock()
	c, err := r.load(ctx, id, true)
	if err != nil {
		var zero S
		return zero, 0, err
	}
	return c.state.Clone(), c.version, nil
}
