package main

import (
	"bufio"
	"bytes"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// gcPercent is the collector's GOGC unless the environment sets one. A
// server's live heap (views, caches) is small next to what each request
// allocates and drops, and Go's default of 100 collects every time the
// heap doubles: at 2,300 logins/s the collector took 8.7 % of the server's
// CPU, 2.8 % at 400 (BENCHMARKS.md, "Session 5: the collector, ..."); the
// soft memory limit below keeps the larger heap from outgrowing the
// machine.
const gcPercent = 400

// memoryLimitShare is the part of the memory available to the process
// (its cgroup's limit, or the machine's RAM) that the heap may grow to
// before the collector works harder, unless GOMEMLIMIT is set.
const memoryLimitShare = 0.7

// tuneGC sets GOGC and GOMEMLIMIT where the environment leaves them unset,
// and logs what the collector runs with.
func tuneGC(log *slog.Logger) {
	gogc := os.Getenv("GOGC")
	if gogc == "" {
		debug.SetGCPercent(gcPercent)
		gogc = strconv.Itoa(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if avail := availableMemory(); avail > 0 {
			debug.SetMemoryLimit(int64(float64(avail) * memoryLimitShare))
		}
	}
	// SetMemoryLimit with a negative value only reads the limit.
	log.Debug("garbage collector", "gogc", gogc, "memory_limit_bytes", debug.SetMemoryLimit(-1))
}

// availableMemory is the memory this process may use in bytes: the least
// of its cgroup's limit (v2 memory.max, or v1 memory.limit_in_bytes, which
// reads as a huge number when there is none) and the machine's RAM; 0 when
// none can be read.
func availableMemory() int64 {
	avail := memTotal()
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (avail == 0 || n < avail) {
			avail = n
		}
	}
	return avail
}

// memTotal is the machine's RAM from /proc/meminfo; 0 when unknown.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("MemTotal:")); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
