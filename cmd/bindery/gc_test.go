package main

import (
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"
)

func TestTuneGCSetsDefaultsTheEnvironmentLeavesOpen(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	tuneGC(slog.New(slog.NewTextHandler(io.Discard, nil)))

	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GOGC = %d, want %d", got, gcPercent)
	}
	avail := availableMemory()
	if avail <= 0 {
		t.Fatal("availableMemory found no limit and no MemTotal")
	}
	if got, want := debug.SetMemoryLimit(-1), int64(float64(avail)*memoryLimitShare); got != want {
		t.Errorf("memory limit = %d, want %d (%.1f of %d)", got, want, memoryLimitShare, avail)
	}
}

func TestTuneGCKeepsTheEnvironmentsSettings(t *testing.T) {
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	defer debug.SetGCPercent(debug.SetGCPercent(150))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 30))

	tuneGC(slog.New(slog.NewTextHandler(io.Discard, nil)))

	if got := debug.SetGCPercent(150); got != 150 {
		t.Errorf("GOGC = %d, want the environment's 150", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("memory limit = %d, want the environment's 1 GiB", got)
	}
}

// A cgroup without a limit (v1 reads as a huge number) does not lift the
// budget above the machine's RAM.
func TestAvailableMemoryIsAtMostTheMachines(t *testing.T) {
	total, avail := memTotal(), availableMemory()
	if total <= 0 || avail <= 0 || avail > total {
		t.Fatalf("availableMemory = %d, MemTotal = %d", avail, total)
	}
}
