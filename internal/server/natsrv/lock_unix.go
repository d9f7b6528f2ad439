//go:build unix

package natsrv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockStore takes an exclusive lock on the data dir's store for as long
// as the server runs: two servers on one store directory (a second
// bindery, or binderyctl keys rotate while bindery runs) would corrupt
// it, and nats-server does not lock it itself.
func lockStore(dataDir string) (unlock func(), err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dataDir, LockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("embedded nats: %w", ErrStoreInUse)
		}
		return nil, fmt.Errorf("embedded nats: lock: %w", err)
	}
	return func() { f.Close() }, nil
}
