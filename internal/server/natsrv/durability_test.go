//go:build linux

package natsrv

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// These tests put the embedded server's data directory on a small ext4
// filesystem in a loop-mounted image file. The loop device passes on to
// the image file exactly what ext4 wrote out of its page cache (on fsync,
// a journal commit or writeback); what is still dirty in the mounted
// filesystem's page cache is not in the file yet. So a byte copy of the
// image file, mounted as a second filesystem (ext4 replays its journal),
// is the disk as a power cut at that instant would leave it: unsynced
// writes dropped. The loop device's block statistics count the flushes
// (cache flush requests) that fsyncs send to it.

// loopFS is a mounted ext4 image.
type loopFS struct {
	img, dir, dev string
}

func mountLoop(t *testing.T) *loopFS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: loop-mounting an ext4 image needs root (CI runs as root)")
	}
	for _, tool := range []string{"mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: %s is not installed", tool)
		}
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("skipped: no loop devices (/dev/loop-control)")
	}
	base := t.TempDir()
	img := filepath.Join(base, "fs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(128 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	return mountImage(t, img)
}

func mountImage(t *testing.T, img string) *loopFS {
	t.Helper()
	dir := img + ".mnt"
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o loop: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", "--target", dir).Output()
	if err != nil {
		t.Fatalf("findmnt: %v", err)
	}
	return &loopFS{img: img, dir: dir, dev: strings.TrimSpace(string(out))}
}

// flushes is the number of flush requests the loop device has completed
// (field 16 of /sys/block/<dev>/stat).
func (l *loopFS) flushes(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(l.dev), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) < 16 {
		t.Skipf("skipped: kernel reports no flush statistics (%d fields)", len(f))
	}
	n, err := strconv.Atoi(f[15])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// powerCut copies the image file as it is now, while the filesystem stays
// mounted and the server runs, and mounts the copy: what a power loss at
// this instant leaves on disk.
func (l *loopFS) powerCut(t *testing.T) *loopFS {
	t.Helper()
	src, err := os.Open(l.img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	img := filepath.Join(t.TempDir(), "after-power-cut.img")
	dst, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return mountImage(t, img)
}

// publishAcked sends writers×each messages from concurrent writers and
// returns the acknowledged ones by stream sequence.
func publishAcked(t *testing.T, js nats.JetStreamContext, writers, each int) map[uint64][]byte {
	t.Helper()
	var mu sync.Mutex
	acked := map[uint64][]byte{}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				data := fmt.Appendf(nil, `{"writer":%d,"n":%d,"pad":%q}`, w, i, strings.Repeat("x", 200))
				ack, err := js.Publish(fmt.Sprintf("durable.%d", w), data)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acked[ack.Sequence] = data
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return acked
}

// lostAfterPowerCut publishes acknowledged messages to a server with the
// given options, cuts the power, starts a server on what the disk kept
// and counts the acknowledged messages missing or changed there.
func lostAfterPowerCut(t *testing.T, o Options) (acked, lost int) {
	fs := mountLoop(t)
	o.DataDir = fs.dir
	e := start(t, o)
	js := addStream(t, e.Conn)
	syscall.Sync() // the stream itself is on disk: what follows is about its messages
	sent := publishAcked(t, js, 8, 50)
	after := fs.powerCut(t)

	e2 := start(t, Options{DataDir: after.dir, Sync: PolicyInterval, SyncInterval: time.Minute}) // only reads
	js2, err := e2.Conn.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	for seq, data := range sent {
		m, err := js2.GetMsg("DURABLE", seq)
		if err != nil || !bytes.Equal(m.Data, data) {
			lost++
		}
	}
	return len(sent), lost
}

// Done-when 2 of issue 15: with the default policy (group) and with
// always, no acknowledged message is lost when the page cache's unsynced
// writes are.
func TestAcknowledgedMessagesSurvivePowerCut(t *testing.T) {
	for _, o := range []Options{{}, {Sync: PolicyAlways}} {
		acked, lost := lostAfterPowerCut(t, o)
		if lost != 0 {
			t.Fatalf("sync %q: %d of %d acknowledged messages lost after the power cut", o.Sync, lost, acked)
		}
		t.Logf("sync %q: all %d acknowledged messages on disk after the power cut", o.Sync, acked)
	}
}

// The control, which shows that the power cut does drop unsynced writes:
// with a background sync interval the same cut loses acknowledged
// messages. (The kernel writes dirty pages back after 30 s, or sooner
// under memory pressure; the messages here are dirty for well under a
// second.)
func TestPowerCutLosesUnsyncedMessages(t *testing.T) {
	acked, lost := lostAfterPowerCut(t, Options{Sync: PolicyInterval, SyncInterval: 2 * time.Minute})
	t.Logf("sync interval 2m: %d of %d acknowledged messages lost after the power cut", lost, acked)
	if lost == 0 {
		t.Fatal("sync interval 2m: nothing lost; the simulated power cut did not drop unsynced writes (writeback under memory pressure?)")
	}
}

// Done-when 1 of issue 15: the setting takes effect on the disk. One
// writer: with group (the default) and always, each acknowledged publish
// flushes the device at least once; with a 2-minute interval almost none
// do. Sixteen writers: the group policy shares flushes between them.
func TestSyncSettingFlushesTheDevice(t *testing.T) {
	const n = 200
	perPublish := map[string]float64{}
	for _, tc := range []struct {
		name    string
		o       Options
		writers int
	}{
		{"default-1-writer", Options{}, 1},
		{"always-1-writer", Options{Sync: PolicyAlways}, 1},
		{"interval-1-writer", Options{Sync: PolicyInterval, SyncInterval: 2 * time.Minute}, 1},
		{"default-16-writers", Options{}, 16},
		{"always-16-writers", Options{Sync: PolicyAlways}, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := mountLoop(t)
			tc.o.DataDir = fs.dir
			e := start(t, tc.o)
			js := addStream(t, e.Conn)
			before := fs.flushes(t)
			publishAcked(t, js, tc.writers, n/tc.writers)
			got := fs.flushes(t) - before
			perPublish[tc.name] = float64(got) / n
			t.Logf("%s: %d device flushes for %d acknowledged publishes", tc.name, got, n)
			switch {
			case tc.o.Sync != PolicyInterval && tc.writers == 1 && got < n:
				t.Fatalf("%d flushes for %d publishes, want at least one each", got, n)
			case tc.o.Sync == PolicyInterval && got >= n/10:
				t.Fatalf("%d flushes for %d publishes, want fewer than %d", got, n, n/10)
			case got == 0 && tc.o.Sync != PolicyInterval:
				t.Fatal("no flush at all")
			}
		})
	}
	t.Logf("device flushes per publish: %v", perPublish)
}

// Reads cost no flush with the group policy: what they answer was synced
// when it was written.
func TestGroupPolicyReadsDoNotFlush(t *testing.T) {
	fs := mountLoop(t)
	e := start(t, Options{DataDir: fs.dir})
	js := addStream(t, e.Conn)
	sent := publishAcked(t, js, 4, 50)
	before := fs.flushes(t)
	for seq, data := range sent {
		m, err := js.GetMsg("DURABLE", seq)
		if err != nil || !bytes.Equal(m.Data, data) {
			t.Fatalf("message %d: %v", seq, err)
		}
	}
	got := fs.flushes(t) - before
	t.Logf("%d device flushes for %d reads", got, len(sent))
	if got >= len(sent)/10 {
		t.Fatalf("%d device flushes for %d reads, want fewer than %d", got, len(sent), len(sent)/10)
	}
}
