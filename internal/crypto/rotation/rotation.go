// Package rotation moves what Bindery keeps in KV buckets sealed under the
// master key — data keys, the server's own keys, retired master keys,
// token signing keys, audit checkpoint keys — to a new master key, and
// keeps the old key retired (sealed under the new one) so that what the
// append-only history holds sealed under it still opens.
package rotation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/crypto/datakeys"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// ErrSameKey refuses a rotation to the key in use.
var ErrSameKey = errors.New("rotation: the new master key is the one in use")

// errPlain marks an entry that holds nothing sealed (which audit key is
// current): not counted.
var errPlain = errors.New("rotation: nothing sealed")

// Options shape a run.
type Options struct {
	// Progress is told, after each entry, how far a part is.
	Progress func(part string, done, total int)
	// Limit stops the run once it has re-sealed that many entries (0: no
	// limit); a later run goes on from there.
	Limit int
	// Workers re-seal entries concurrently (default 8): on the embedded
	// server each write waits for a filesystem sync, which concurrent
	// writes share.
	Workers int
	// Timeout bounds each NATS request (default 10s).
	Timeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Progress == nil {
		o.Progress = func(string, int, int) {}
	}
}

// Part is what a run did to one bucket.
type Part struct {
	Name     string // what the bucket holds, e.g. "data keys"
	Bucket   string
	Total    int // entries when the run began
	Resealed int // re-sealed under the new key by this run
	Already  int // under the new key already (an earlier run)
	Gone     int // erased or expired while the run went on
	// Untrusted are entries that open under neither key: audit keys
	// planted without the master key, which stay untrusted.
	Untrusted int
	Plain     int // entries holding nothing sealed
	// Wiped counts old revisions securely deleted (overwritten on disk).
	Wiped int
	// Lingering says the bucket refuses deletes: its old revision was
	// dropped by the bucket's history limit, which does not overwrite it.
	Lingering bool
}

// Report is the outcome of a run.
type Report struct {
	Old, New string // the keys' public fingerprints (secrets.KeyID)
	// Retired: the old key is kept under the new one, so the new key
	// alone opens everything from here on, however the run ends.
	Retired bool
	Parts   []Part
	// Stopped: the run reached Options.Limit before the end; every entry
	// opens with the new key alone already, and another run finishes.
	Stopped bool
}

// part is a bucket and how to re-seal one of its entries: reseal returns
// nil when the entry is under the new key already, untrusted when it
// opens under neither key and is to be left as it is, and errPlain for an
// entry that holds nothing sealed.
type part struct {
	name, bucket string
	reseal       func(name string, value []byte) (out []byte, untrusted bool, err error)
}

// Rotate re-seals every entry under newKey. It first stores oldKey
// (the one in use) retired under newKey, so that from then on a server
// started with newKey alone opens everything, re-sealed yet or not: a run
// cut short at any point leaves the data usable with the new key, and
// running again finishes it (entries already re-sealed are skipped).
// Each entry is replaced by compare-and-swap on its revision, so an
// erasure that happens meanwhile is never undone. Replicas must be
// stopped: one still running with oldKey fails to open what was re-sealed.
func Rotate(ctx context.Context, js jetstream.JetStream, oldKey, newKey []byte, opts Options) (Report, error) {
	opts.setDefaults()
	oldBox, err := secrets.NewBox(oldKey)
	if err != nil {
		return Report{}, fmt.Errorf("rotation: old key: %w", err)
	}
	newBox, err := secrets.NewBox(newKey)
	if err != nil {
		return Report{}, fmt.Errorf("rotation: new key: %w", err)
	}
	rep := Report{Old: oldBox.KeyID(), New: newBox.KeyID()}
	if rep.Old == rep.New {
		return rep, ErrSameKey
	}
	kv, err := js.KeyValue(ctx, datakeys.Bucket)
	if err != nil {
		return rep, fmt.Errorf("rotation: bucket %s (has a bindery server run on this NATS?): %w", datakeys.Bucket, err)
	}
	opener, err := prepare(ctx, kv, oldKey, oldBox, newBox)
	if err != nil {
		return rep, err
	}
	rep.Retired = true
	r := &run{js: js, opts: opts, left: opts.Limit}
	for _, p := range plan(opener, newBox) {
		got, err := r.bucket(ctx, p)
		if got.Bucket != "" {
			rep.Parts = append(rep.Parts, got)
		}
		if err != nil {
			return rep, err
		}
		if r.isStopped() {
			rep.Stopped = true
			return rep, nil
		}
	}
	return rep, nil
}

// prepare checks the keys against the data and retires the old one; it
// returns what opens every entry: the new key, the old one, and every key
// retired before.
func prepare(ctx context.Context, kv jetstream.KeyValue, oldKey []byte, oldBox, newBox *secrets.Box) (*secrets.Box, error) {
	if _, err := kv.Get(ctx, datakeys.RetiredName(newBox)); err == nil {
		return nil, fmt.Errorf("rotation: the new key (%s) is a retired master key: choose a fresh one", newBox.KeyID())
	}
	name := datakeys.RetiredName(oldBox)
	e, err := kv.Get(ctx, name)
	resumed := err == nil
	if resumed && !datakeys.Opens(newBox, name, e.Value()) {
		return nil, fmt.Errorf("rotation: the old key (%s) was already retired under another key: finish that rotation with its new key", oldBox.KeyID())
	}
	retired, err := datakeys.RetiredKeys(ctx, kv, newBox, oldBox)
	if err != nil {
		return nil, fmt.Errorf("rotation: %w", err)
	}
	opener := newBox.WithRetired(append([]*secrets.Box{oldBox}, retired...)...)
	// One sealed entry proves the old key is this data's before anything
	// is written (a resumed run has retired the old key under the new
	// one already, and is checked by that).
	if !resumed {
		name, value, err := probe(ctx, kv)
		if err != nil {
			return nil, fmt.Errorf("rotation: %w", err)
		}
		if name != "" && !datakeys.Opens(oldBox.WithRetired(retired...), name, value) {
			return nil, fmt.Errorf("rotation: the old key (%s) is not the master key this data is sealed under", oldBox.KeyID())
		}
	}
	if err := datakeys.Retire(ctx, kv, oldKey, newBox); err != nil {
		return nil, fmt.Errorf("rotation: %w", err)
	}
	return opener, nil
}

// probe returns an entry of the bucket other than a retired key (the
// server's own keys exist from a server's first start); none when the
// bucket holds nothing else.
func probe(ctx context.Context, kv jetstream.KeyValue) (string, []byte, error) {
	lister, err := kv.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	defer func() { _ = lister.Stop() }()
	for name := range lister.Keys() {
		if datakeys.IsRetired(name) {
			continue
		}
		e, err := kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue // erased meanwhile
		}
		if err != nil {
			return "", nil, err
		}
		return name, e.Value(), nil
	}
	return "", nil, nil
}

// plan lists the buckets and how each entry is re-sealed. The two
// buckets of datakeys come first: they hold the retired keys, and most
// entries.
func plan(opener, next *secrets.Box) []part {
	dk := func(name string, value []byte) ([]byte, bool, error) {
		out, err := datakeys.Reseal(opener, next, name, value)
		return out, false, err
	}
	return []part{
		{"data keys", datakeys.Bucket, dk},
		{"login keys", datakeys.AuthBucket, dk},
		{"signing keys", tokens.KeyBucket, func(name string, value []byte) ([]byte, bool, error) {
			if name != tokens.KeySetKey {
				return nil, false, errPlain
			}
			out, err := tokens.ResealKeySet(value, opener, next)
			return out, false, err
		}},
		{"audit keys", audit.KeyBucket, func(name string, value []byte) ([]byte, bool, error) {
			if !audit.IsKeyEntry(name) {
				return nil, false, errPlain
			}
			return audit.ResealKey(name, value, opener, next)
		}},
	}
}
