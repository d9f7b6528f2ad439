//go:build unix

package natsrv

import (
	"errors"
	"testing"
)

// One server per store: a second one on the same data dir (another
// bindery, binderyctl keys rotate) is refused while the first runs, and
// starts once it has stopped.
func TestStoreLockedWhileRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := Start(withDefaults(Options{DataDir: dir}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(withDefaults(Options{DataDir: dir})); !errors.Is(err, ErrStoreInUse) {
		first.Close()
		t.Fatalf("a second server on the same store: %v, want ErrStoreInUse", err)
	}
	first.Close()
	start(t, Options{DataDir: dir})
}
