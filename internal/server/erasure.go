package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/datakeys"
	"github.com/bindery/bindery/projections"
)

// erasures finishes erasures outside the history (accounts.Shredder): once
// account_erased is stored, the account's data key is destroyed and the
// views' snapshot replaced by one that holds the tombstone. The append is
// the decision; these steps only follow it, so a crash between them is
// completed at the next start (reconcile), never undone.
type erasures struct {
	keys     *datakeys.Keyring
	engine   *projections.Engine
	accounts *projections.Accounts
	log      *slog.Logger
	// crashAfter, from BINDERY_TEST_ERASE_CRASH (tests only), makes the
	// process kill itself with SIGKILL after that step of an erasure:
	// appended, key or snapshot. The crash test proves all or nothing
	// with it.
	crashAfter string
}

func newErasures(keys *datakeys.Keyring, engine *projections.Engine, accounts *projections.Accounts, log *slog.Logger) *erasures {
	return &erasures{keys: keys, engine: engine, accounts: accounts, log: log, crashAfter: os.Getenv("BINDERY_TEST_ERASE_CRASH")}
}

// Shred implements accounts.Shredder: the key first (from then on nothing
// the account ever wrote opens), then, once the views applied the erasure,
// a new snapshot (the old one still holds the person, sealed under the
// server's snapshot key).
func (x *erasures) Shred(ctx context.Context, accountID string, erasedAt events.Position) error {
	x.crash("appended")
	if err := x.keys.Erase(ctx, accountKey(accountID)); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	x.crash("key")
	if err := x.engine.WaitFor(ctx, erasedAt); err != nil {
		return fmt.Errorf("erase: the views did not apply the erasure: %w", err)
	}
	if err := x.engine.SaveSnapshot(); err != nil {
		return fmt.Errorf("erase: snapshot: %w", err)
	}
	x.crash("snapshot")
	return nil
}

// reconcile finishes, at start-up, the erasures a crash left half done:
// once the views caught up, every erased account's key is destroyed if it
// is still there, and the snapshot is replaced if it predates an erasure
// the views applied since. It runs beside the server (a big history takes
// a while to catch up); each step is idempotent.
func (x *erasures) reconcile(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !x.engine.Ready() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	purged := 0
	for _, id := range x.accounts.ErasedIDs() {
		owner := accountKey(id)
		gone, err := x.keys.Erased(ctx, owner)
		if err != nil {
			return fmt.Errorf("erasure check %s: %w", id, err)
		}
		if gone {
			continue
		}
		if err := x.keys.Erase(ctx, owner); err != nil {
			return fmt.Errorf("erasure of %s: %w", id, err)
		}
		purged++
	}
	if purged > 0 || x.accounts.ErasedSinceRestore() {
		if err := x.engine.SaveSnapshot(); err != nil {
			return fmt.Errorf("erasure snapshot: %w", err)
		}
	}
	if purged > 0 {
		x.log.Info("erasures finished at start-up", "keys_destroyed", purged)
	}
	return nil
}

func accountKey(id string) string {
	return events.KeyOwner(events.Aggregate{Type: events.AggregateAccount, ID: id})
}

func (x *erasures) crash(step string) {
	if x.crashAfter == step {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
