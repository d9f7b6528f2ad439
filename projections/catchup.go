package projections

import (
	"runtime/debug"
	"sync"
)

// While an engine catches up (a replay from zero, or the tail after a
// snapshot), it allocates fast into a heap that only grows: the views are
// being built. The collector, paced for a steady server, then runs every
// few megabytes and takes a third of the CPU of a replay. Engines that are
// catching up raise the process's GC percentage (Options.CatchUpGCPercent)
// until the last of them is ready, trading a higher peak heap during the
// catch-up for the CPU.

// DefaultCatchUpGCPercent is the GC percentage while catching up: the heap
// may grow to about five times the live views between collections.
const DefaultCatchUpGCPercent = 400

var catchUp struct {
	mu     sync.Mutex
	n      int // engines catching up
	before int // the percentage to go back to
}

// beginCatchUp raises the GC percentage to pct (if it is lower) for the
// duration of one engine's catch-up; the returned func ends it (once).
func beginCatchUp(pct int) func() {
	catchUp.mu.Lock()
	defer catchUp.mu.Unlock()
	if catchUp.n == 0 {
		catchUp.before = debug.SetGCPercent(pct)
		if catchUp.before < 0 || catchUp.before >= pct { // off, or already higher: leave it
			debug.SetGCPercent(catchUp.before)
		}
	}
	catchUp.n++
	var once sync.Once
	return func() {
		once.Do(func() {
			catchUp.mu.Lock()
			defer catchUp.mu.Unlock()
			if catchUp.n--; catchUp.n == 0 {
				debug.SetGCPercent(catchUp.before)
			}
		})
	}
}
