package projections

import (
	"runtime/debug"
	"testing"
)

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// The GC percentage is raised while any engine catches up and goes back
// when the last one is done, whatever the order; a higher setting, or GC
// off, is left alone.
func TestCatchUpRaisesGCUntilTheLastEngineIsReady(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	endA := beginCatchUp(400)
	endB := beginCatchUp(400)
	if got := gcPercent(); got != 400 {
		t.Fatalf("catching up: GC percent %d", got)
	}
	endA()
	endA() // ending twice counts once
	if got := gcPercent(); got != 400 {
		t.Fatalf("one engine still catching up: GC percent %d", got)
	}
	endB()
	if got := gcPercent(); got != 100 {
		t.Fatalf("all ready: GC percent %d, want 100 again", got)
	}
	for _, before := range []int{800, -1} {
		debug.SetGCPercent(before)
		end := beginCatchUp(400)
		if got := gcPercent(); got != before {
			t.Fatalf("GC percent %d before: %d while catching up", before, got)
		}
		end()
		if got := gcPercent(); got != before {
			t.Fatalf("GC percent %d before: %d after", before, got)
		}
	}
}
