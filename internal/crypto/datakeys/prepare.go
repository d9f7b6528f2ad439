package datakeys

import (
	"context"
	"crypto/rand"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Prepare implements events.Sealer: every owner has a key before the
// events of an append are sealed. The keys the cache lacks are created
// all at once — asynchronous creates whose acknowledgements are awaited
// together — because on the embedded server every answer waits for a
// filesystem sync (group commit, natsrv): creating the 200 keys of a
// sync batch one by one, a read and a create each, cost two syncs per
// key. A create refused because the key exists (another replica made
// it, or this cache has not seen it yet) falls back to reading it.
func (k *Keyring) Prepare(ctx context.Context, owners []string) error {
	var missing []string
	k.mu.RLock()
	for _, o := range owners {
		if _, ok := k.keys[o]; !ok {
			missing = append(missing, o)
		}
	}
	k.mu.RUnlock()
	if len(missing) > 1 {
		missing = k.createAll(ctx, missing)
	}
	return k.prepareEach(ctx, missing)
}

// createAll creates a key for each owner, returning the owners it could
// not create (their key exists, or the create failed or timed out).
func (k *Keyring) createAll(ctx context.Context, owners []string) (left []string) {
	type create struct {
		owner, sealed string
		raw           []byte
		ack           jetstream.PubAckFuture
	}
	creates := make([]create, 0, len(owners))
	for _, o := range owners {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			left = append(left, o)
			continue
		}
		sealed, err := k.master.current().Seal(raw, aad(o))
		if err != nil {
			left = append(left, o)
			continue
		}
		// The subject of key o in its bucket, as nats.go's KeyValue.Create
		// writes it: expecting no earlier message for the key.
		subject := "$KV." + k.bucketOf(o).Bucket() + "." + o
		ack, err := k.js.PublishAsync(subject, []byte(sealed), jetstream.WithExpectLastSequencePerSubject(0))
		if err != nil {
			left = append(left, o)
			continue
		}
		creates = append(creates, create{owner: o, sealed: sealed, raw: raw, ack: ack})
	}
	ctx, cancel := k.opCtx(ctx)
	defer cancel()
	for i, c := range creates {
		select {
		case <-c.ack.Ok():
			if _, err := k.cache(c.owner, c.sealed, c.raw); err != nil {
				left = append(left, c.owner)
			}
		case <-c.ack.Err():
			left = append(left, c.owner)
		case <-ctx.Done():
			// Some of the rest may have been written: reading them finds out.
			for _, r := range creates[i:] {
				left = append(left, r.owner)
			}
			return left
		}
	}
	return left
}

// prepareEach reads or creates the owners' keys a few at a time.
func (k *Keyring) prepareEach(ctx context.Context, owners []string) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan string)
	)
	for range min(16, len(owners)) {
		wg.Go(func() {
			for o := range next {
				if _, err := k.key(ctx, o, true); err != nil {
					mu.Lock()
					first = cmpOr(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, o := range owners {
		next <- o
	}
	close(next)
	wg.Wait()
	return first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
