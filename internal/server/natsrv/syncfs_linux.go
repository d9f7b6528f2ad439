package natsrv

import (
	"bytes"
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
	last := int64(-1)
	return func() error {
		dirtied, ok := writeBytes()
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
	}, func() { f.Close() }, nil
}

// writeBytes is this process's write_bytes from /proc/self/io.
func writeBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("write_bytes: ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
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
