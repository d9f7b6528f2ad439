package events

// Ticks is how many Refresh calls and store reads the repository has
// counted: a test waits on it to know that callers have arrived.
func (r *Repository[S]) Ticks() uint64 { return r.ticks.Load() }
