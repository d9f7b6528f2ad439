package natsrv

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// syncFS opens dir and returns a function that syncs the whole filesystem
// holding it (syncfs(2): every dirty page and inode, the journal, a
// device cache flush) and one that closes it.
//
// The sync is skipped when this process has dirtied no page since the
// previous sync began (write_bytes in /proc/self/io, which the kernel
// counts when a page turns dirty): whatever was written before then was
// written back by that sync. So reads (replays, exports, direct gets)
// cost no disk flush; only writes do. Not to be called concurrently.
func syncFS(dir string) (sync func() error, closeFn func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	counters := openIOCounters()
	last := int64(-1)
	return func() error {
		dirtied, ok := counters.writeBytes()
		if ok && dirtied == last {
			return nil
		}
		if err := unix.Syncfs(int(f.Fd())); err != nil {
			return err
		}
		if ok {
			last = dirtied
		}
		return nil
	}, func() { counters.close(); f.Close() }, nil
}

// ioCounters reads this process's write_bytes from /proc/self/io, kept
// open: a pread of the open file costs a quarter of opening, reading and
// closing it, and the syncer reads it before every sync.
type ioCounters struct {
	f   *os.File
	buf [512]byte
}

func openIOCounters() *ioCounters {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return nil
	}
	return &ioCounters{f: f}
}

// writeBytes is write_bytes now; false when it cannot be read.
func (c *ioCounters) writeBytes() (int64, bool) {
	if c == nil {
		return 0, false
	}
	n, err := c.f.ReadAt(c.buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, false
	}
	for line := range bytes.SplitSeq(c.buf[:n], []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("write_bytes: ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func (c *ioCounters) close() {
	if c != nil {
		c.f.Close()
	}
}

// syncFSAlways is syncFS without the skip, for a directory that another
// process writes to.
func syncFSAlways(dir string) (sync func() error, closeFn func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	return func() error { return unix.Syncfs(int(f.Fd())) }, func() { f.Close() }, nil
}
