package projections

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	fastjson "github.com/goccy/go-json"

	"github.com/bindery/bindery/events"
)

// snapshotFile is what SaveSnapshot writes: every view with the position
// it reflects, and the creation times of the streams it was taken on.
type snapshotFile struct {
	Version  int                        `json:"version"`
	Created  [2]time.Time               `json:"streams_created"`
	Position events.Position            `json:"position"`
	Views    map[string]json.RawMessage `json:"views"`
	// Chains (since the read-side chain check) keeps checking links across
	// a restart; a snapshot without it is still restored.
	Chains *snapshotChains `json:"chains,omitempty"`
}

// SnapshotSealer encrypts a snapshot (secrets.Box is one).
type SnapshotSealer interface {
	Seal(plaintext []byte, aad string) (string, error)
	Open(sealed string, aad string) ([]byte, error)
}

// snapshotAAD binds a sealed snapshot to its purpose.
const snapshotAAD = "projections-snapshot"

// snapshotLoop saves a snapshot every SnapshotEvery while the position moves.
func (e *Engine) snapshotLoop(ctx context.Context) {
	defer e.done.Done()
	t := time.NewTicker(e.opts.SnapshotEvery)
	defer t.Stop()
	last := e.Position()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if p := e.Position(); p != last {
				if err := e.SaveSnapshot(); err != nil {
					e.opts.Logger.Warn("projection snapshot", "err", err)
				}
				last = p
			}
		}
	}
}

// Capturer is implemented by views that can capture their state quickly
// under the engine's lock and encode it afterwards.
type Capturer interface {
	Capture() func() (json.RawMessage, error)
}

// SaveSnapshot writes every view with the position it reflects, atomically
// (temp file + rename), one call at a time. Both streams' apply locks are held only while the
// views capture their state, so that views and position agree.
func (e *Engine) SaveSnapshot() error {
	e.snapMu.Lock()
	defer e.snapMu.Unlock()
	e.applyMu[hist].Lock()
	e.applyMu[auth].Lock()
	snap := snapshotFile{Version: 1, Created: e.snapCreated, Position: e.Position(), Views: map[string]json.RawMessage{}}
	snap.Chains = e.captureChains()
	encoders := map[string]func() (json.RawMessage, error){}
	var err error
	for _, v := range e.views {
		if c, ok := v.(Capturer); ok {
			encoders[v.Name()] = c.Capture()
		} else if snap.Views[v.Name()], err = v.Snapshot(); err != nil {
			break
		}
	}
	e.applyMu[auth].Unlock()
	e.applyMu[hist].Unlock()
	if err != nil {
		return err
	}
	for name, enc := range encoders {
		if snap.Views[name], err = enc(); err != nil {
			return err
		}
	}
	data, err := fastjson.Marshal(snap)
	if err != nil {
		return err
	}
	if e.opts.SnapshotSeal != nil {
		sealed, err := e.opts.SnapshotSeal.Seal(data, snapshotAAD)
		if err != nil {
			return err
		}
		data = []byte(sealed)
	}
	if err := os.MkdirAll(filepath.Dir(e.opts.SnapshotPath), 0o700); err != nil {
		return err
	}
	tmp := e.opts.SnapshotPath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, e.opts.SnapshotPath)
}

// restore loads the snapshot if it was taken on these very streams and is
// not ahead of them; otherwise the views start empty and replay everything.
func (e *Engine) restore(created [2]time.Time) {
	e.snapCreated = created
	if e.opts.SnapshotPath == "" {
		return
	}
	data, err := os.ReadFile(e.opts.SnapshotPath)
	if err != nil {
		return
	}
	if e.opts.SnapshotSeal != nil && len(data) > 0 && data[0] != '{' {
		if data, err = e.opts.SnapshotSeal.Open(string(data), snapshotAAD); err != nil {
			e.opts.Logger.Warn("projection snapshot does not open, replaying", "err", err)
			return
		}
	}
	var snap snapshotFile
	if err := fastjson.Unmarshal(data, &snap); err != nil || snap.Version != 1 {
		e.opts.Logger.Warn("projection snapshot unreadable, replaying", "err", err)
		return
	}
	if !snap.Created[0].Equal(created[0]) || !snap.Created[1].Equal(created[1]) ||
		snap.Position.History > e.target[hist] || snap.Position.AuthLog > e.target[auth] {
		e.opts.Logger.Warn("projection snapshot does not match the streams, replaying")
		return
	}
	for _, v := range e.views {
		raw, ok := snap.Views[v.Name()]
		if !ok {
			e.resetAll()
			return // a view added since: replay everything
		}
		if err := v.Restore(raw); err != nil {
			e.opts.Logger.Warn("projection snapshot restore failed, replaying", "view", v.Name(), "err", err)
			e.resetAll()
			return
		}
	}
	e.restoreChains(snap.Chains)
	e.applied[hist].Store(snap.Position.History)
	e.applied[auth].Store(snap.Position.AuthLog)
}

func (e *Engine) resetAll() {
	for _, v := range e.views {
		_ = v.Restore(nil)
	}
}
