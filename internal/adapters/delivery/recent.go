package delivery

import "sync"

// recentEvents remembers the events this process forwarded lately (stream
// and sequence), so that an event handed out again by a consumer reset
// (filter.go) is not delivered twice: a second arrival waits for the first
// to end, and is acknowledged without a delivery if the first succeeded.
// Bounded: the oldest are forgotten first.
type recentEvents struct {
	mu    sync.Mutex
	byKey map[recentKey]*recentEntry
	order []recentKey
	next  int
}

type recentKey struct {
	stream string
	seq    uint64
}

type recentEntry struct {
	done chan struct{}
	ok   bool
}

const maxRecent = 16384

// begin reports whether the caller should forward the event; when it was
// forwarded (or is being forwarded) already, it waits for that outcome and
// answers false if it succeeded. finish must follow a true answer.
func (r *recentEvents) begin(stream string, seq uint64) bool {
	k := recentKey{stream, seq}
	for {
		r.mu.Lock()
		if r.byKey == nil {
			r.byKey = make(map[recentKey]*recentEntry, maxRecent)
			r.order = make([]recentKey, maxRecent)
		}
		e, ok := r.byKey[k]
		if !ok {
			if old := r.order[r.next]; old.stream != "" {
				delete(r.byKey, old)
			}
			r.order[r.next] = k
			r.next = (r.next + 1) % maxRecent
			r.byKey[k] = &recentEntry{done: make(chan struct{})}
			r.mu.Unlock()
			return true
		}
		r.mu.Unlock()
		<-e.done
		if e.ok {
			return false
		}
		r.mu.Lock()
		if r.byKey[k] == e { // failed: the next arrival forwards it again
			delete(r.byKey, k)
		}
		r.mu.Unlock()
	}
}

// finish records the outcome of a forward that begin allowed.
func (r *recentEvents) finish(stream string, seq uint64, ok bool) {
	r.mu.Lock()
	e := r.byKey[recentKey{stream, seq}]
	r.mu.Unlock()
	if e == nil {
		return
	}
	select {
	case <-e.done:
	default:
		e.ok = ok
		close(e.done)
	}
}
