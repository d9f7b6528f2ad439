package projections

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Concurrent snapshots (the periodic one, an erasure's, the one on close)
// never leave a half-written or interleaved file: each call writes and
// renames the temp file alone, so the file on disk is always one whole
// snapshot that restores.
func TestConcurrentSnapshotsLeaveOneWholeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.json")
	e := &Engine{opts: Options{SnapshotPath: path}, views: []Projection{NewAccounts()}}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() { errs <- e.SaveSnapshot() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a concurrent snapshot failed: %v", err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var snap snapshotFile
	if err := json.Unmarshal(data, &snap); err != nil || snap.Version != 1 {
		t.Fatalf("the snapshot left on disk does not decode: %v (%d bytes)", err, len(data))
	}
}
