package rotation

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// run is one rotation's pass over the buckets.
type run struct {
	js   jetstream.JetStream
	opts Options

	mu      sync.Mutex
	left    int // re-seals left before Options.Limit; unused when Limit is 0
	stopped bool
}

// take reserves one re-seal under the limit.
func (r *run) take() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opts.Limit == 0 {
		return true
	}
	if r.left == 0 {
		r.stopped = true
		return false
	}
	r.left--
	return true
}

// bucket re-seals every entry of one bucket. Where the bucket allows
// deletes (the data keys'), it keeps two revisions per key for the run,
// so that the old revision is still there to be securely deleted —
// overwritten on disk, not only dropped from the index — once the new
// one is written: no copy of a data key under the old master key is left
// behind to defeat a later erasure.
func (r *run) bucket(ctx context.Context, p part) (Part, error) {
	got := Part{Name: p.name}
	kv, err := r.js.KeyValue(ctx, p.bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return got, nil // not made yet (e.g. no audit checkpoint so far)
	}
	if err != nil {
		return got, fmt.Errorf("rotation: bucket %s: %w", p.bucket, err)
	}
	got.Bucket = p.bucket
	st, err := r.js.Stream(ctx, "KV_"+p.bucket)
	if err != nil {
		return got, fmt.Errorf("rotation: bucket %s: %w", p.bucket, err)
	}
	cfg := st.CachedInfo().Config
	wipe := !cfg.DenyDelete
	got.Lingering = !wipe
	if wipe {
		// The data keys' buckets keep one revision (datakeys.Open); two
		// found here were left by a run that died before setting it back.
		if cfg.MaxMsgsPerSubject != 2 {
			if err := r.perSubject(ctx, cfg, 2); err != nil {
				return got, err
			}
		}
	}
	names, err := keys(ctx, kv)
	if err != nil {
		return got, fmt.Errorf("rotation: bucket %s: %w", p.bucket, err)
	}
	got.Total = len(names)
	if err := r.each(ctx, p, kv, st, wipe, names, &got); err != nil {
		return got, err
	}
	if wipe {
		n, err := sweep(ctx, st, "$KV."+p.bucket+".>")
		got.Wiped += n
		if err != nil {
			return got, fmt.Errorf("rotation: bucket %s: %w", p.bucket, err)
		}
		// Back to one revision per key, only once none is left to wipe:
		// lowering the limit drops old revisions without overwriting
		// them. A failed run leaves two for the next run to sweep (a
		// server's start-up sets one again: datakeys.Open).
		if err := r.perSubject(ctx, cfg, 1); err != nil {
			return got, err
		}
	}
	return got, nil
}

func (r *run) perSubject(ctx context.Context, cfg jetstream.StreamConfig, n int64) error {
	cfg.MaxMsgsPerSubject = n
	if _, err := r.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("rotation: stream %s: keep %d revisions: %w", cfg.Name, n, err)
	}
	return nil
}

func keys(ctx context.Context, kv jetstream.KeyValue) ([]string, error) {
	lister, err := kv.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for n := range lister.Keys() {
		names = append(names, n)
	}
	return names, nil
}

// each re-seals the named entries on a few workers.
func (r *run) each(ctx context.Context, p part, kv jetstream.KeyValue, st jetstream.Stream, wipe bool, names []string, got *Part) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next = make(chan string)
	)
	done := func(f func()) {
		mu.Lock()
		f()
		n := got.Resealed + got.Already + got.Gone + got.Untrusted + got.Plain
		mu.Unlock()
		r.opts.Progress(p.name, n, got.Total)
	}
	for range min(r.opts.Workers, max(len(names), 1)) {
		wg.Go(func() {
			for name := range next {
				res, err := r.one(ctx, p, kv, st, wipe, name)
				if err != nil {
					cancel(err)
					return
				}
				done(func() {
					switch res {
					case resealed:
						got.Resealed++
						if wipe {
							got.Wiped++
						}
					case already:
						got.Already++
					case gone:
						got.Gone++
					case untrusted:
						got.Untrusted++
					case plain:
						got.Plain++
					}
				})
			}
		})
	}
feed:
	for _, n := range names {
		select {
		case next <- n:
		case <-ctx.Done():
			break feed
		}
		if r.isStopped() {
			break
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func (r *run) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

type outcome int

const (
	resealed outcome = iota
	already
	gone
	untrusted
	plain   // holds nothing sealed
	skipped // the limit was reached
)

// one re-seals one entry: read, re-seal, write if the entry is still the
// one read (else read again: another writer changed it), then wipe the
// revision read.
func (r *run) one(ctx context.Context, p part, kv jetstream.KeyValue, st jetstream.Stream, wipe bool, name string) (outcome, error) {
	for range 5 {
		rctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
		res, retry, err := r.try(rctx, p, kv, st, wipe, name)
		cancel()
		if !retry {
			return res, err
		}
	}
	return 0, fmt.Errorf("rotation: %s %s kept changing", p.name, name)
}

func (r *run) try(ctx context.Context, p part, kv jetstream.KeyValue, st jetstream.Stream, wipe bool, name string) (outcome, bool, error) {
	e, err := kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return gone, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("rotation: read %s %s: %w", p.name, name, err)
	}
	out, bad, err := p.reseal(name, e.Value())
	switch {
	case errors.Is(err, errPlain):
		return plain, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("rotation: %w", err)
	case bad:
		return untrusted, false, nil
	case out == nil:
		return already, false, nil
	case !r.take():
		return skipped, false, nil
	}
	if _, err := kv.Update(ctx, name, out, e.Revision()); errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		r.giveBack()
		return 0, true, nil
	} else if err != nil {
		return 0, false, fmt.Errorf("rotation: write %s %s: %w", p.name, name, err)
	}
	if wipe {
		if err := st.SecureDeleteMsg(ctx, e.Revision()); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, false, fmt.Errorf("rotation: wipe the old revision of %s %s: %w", p.name, name, err)
		}
	}
	return resealed, false, nil
}

func (r *run) giveBack() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opts.Limit != 0 {
		r.left++
	}
}

// sweep securely deletes every revision but the last of each key: the
// old revisions a run cut short between writing an entry and wiping the
// one it replaced left behind.
func sweep(ctx context.Context, st jetstream.Stream, filter string) (int, error) {
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0, err
	}
	wiped := 0
	for subj, n := range info.State.Subjects {
		for ; n > 1; n-- {
			m, err := st.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subj))
			if err != nil {
				return wiped, fmt.Errorf("old revision of %s: %w", subj, err)
			}
			if err := st.SecureDeleteMsg(ctx, m.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				return wiped, fmt.Errorf("wipe an old revision of %s: %w", subj, err)
			}
			wiped++
		}
	}
	return wiped, nil
}
