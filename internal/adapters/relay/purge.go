package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
)

// Index keys, all under the account's token (indexKey):
//
//	<account>.a.<hash of the subject filter> = "bindery.public.<type>.<id>.>"   an aggregate of the account
//	<account>.m.<sequence>                                                  one copy in a shared aggregate
//	<account>.erased                                                        the account is erased
const (
	kindAggregate = ".a."
	kindMessage   = ".m."
	erasedSuffix  = ".erased"
)

var safeToken = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// indexKey is the account's token in index keys: its id when KV allows it
// as a key token, else its hex.
func indexKey(account string) string {
	if safeToken.MatchString(account) {
		return account
	}
	return "x" + hex.EncodeToString([]byte(account))
}

// accountOf reverses indexKey.
func accountOf(token string) string {
	if rest, ok := strings.CutPrefix(token, "x"); ok && len(rest)%2 == 0 {
		if b, err := hex.DecodeString(rest); err == nil && !safeToken.Match(b) {
			return string(b)
		}
	}
	return token
}

// linkCache remembers the aggregates already indexed (bounded: forgetting
// one costs a repeated, idempotent index write).
type linkCache struct {
	mu   sync.Mutex
	seen map[string]bool
}

const linkCacheSize = 100_000

func (c *linkCache) add(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[key] {
		return false
	}
	if c.seen == nil || len(c.seen) >= linkCacheSize {
		c.seen = map[string]bool{}
	}
	c.seen[key] = true
	return true
}

func (c *linkCache) forget(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.seen {
		if strings.HasPrefix(k, prefix) {
			delete(c.seen, k)
		}
	}
}

// aggregateFilter is the subject filter of every copy of agg.
func aggregateFilter(agg events.Aggregate) string {
	return SubjectPrefix + agg.Type + "." + agg.ID + ".>"
}

// link indexes agg as an aggregate of account. The entry is published
// with the copies, so a batch is acknowledged only once both are stored.
func (r *Relay) link(ctx context.Context, account string, agg events.Aggregate) error {
	filter := aggregateFilter(agg)
	h := sha256.Sum256([]byte(filter))
	key := indexKey(account) + kindAggregate + hex.EncodeToString(h[:12])
	if !r.linked.add(key) {
		return nil
	}
	if _, err := r.index.Put(ctx, key, []byte(filter)); err != nil {
		r.linked.forget(key)
		return fmt.Errorf("relay: index %s: %w", agg.Type, err)
	}
	return nil
}

// linkMessage indexes one copy (by its sequence in Stream) as account's.
func (r *Relay) linkMessage(ctx context.Context, account string, seq uint64) error {
	key := indexKey(account) + kindMessage + strconv.FormatUint(seq, 10)
	if _, err := r.index.Put(ctx, key, nil); err != nil {
		return fmt.Errorf("relay: index a copy: %w", err)
	}
	return nil
}

// markErased records that account is erased, so that no replica copies
// anything more of it.
func (r *Relay) markErased(ctx context.Context, account string) error {
	r.erased.add(account)
	if _, err := r.index.Put(ctx, indexKey(account)+erasedSuffix, nil); err != nil {
		return fmt.Errorf("relay: mark erased: %w", err)
	}
	return nil
}

// Purge removes the copies of account from Stream: those of its own
// aggregate below sequence keepFrom (0: all; the relay keeps its
// account_erased so), and those of every other aggregate the index links
// to it. It may be repeated; what is gone stays gone.
func (r *Relay) Purge(ctx context.Context, account string, keepFrom uint64) error {
	opts := []jetstream.StreamPurgeOpt{jetstream.WithPurgeSubject(aggregateFilter(events.Aggregate{Type: events.AggregateAccount, ID: account}))}
	if keepFrom > 0 {
		opts = append(opts, jetstream.WithPurgeSequence(keepFrom))
	}
	if err := r.public.Purge(ctx, opts...); err != nil {
		return fmt.Errorf("relay: purge account %s: %w", account, err)
	}
	return r.purgeLinked(ctx, account)
}

// purgeLinked removes the copies the index links to account, then the
// index entries themselves (the erased mark stays).
func (r *Relay) purgeLinked(ctx context.Context, account string) error {
	prefix := indexKey(account)
	lister, err := r.index.ListKeysFiltered(ctx, prefix+".*.*")
	if err != nil {
		return fmt.Errorf("relay: index of %s: %w", account, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, prefix+kindAggregate):
			e, err := r.index.Get(ctx, k)
			if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
				continue
			}
			if err != nil {
				return fmt.Errorf("relay: index of %s: %w", account, err)
			}
			filter := string(e.Value())
			if !strings.HasPrefix(filter, SubjectPrefix) {
				return fmt.Errorf("relay: index entry %s names no public subject", k)
			}
			if err := r.public.Purge(ctx, jetstream.WithPurgeSubject(filter)); err != nil {
				return fmt.Errorf("relay: purge %s: %w", filter, err)
			}
		case strings.HasPrefix(k, prefix+kindMessage):
			seq, err := strconv.ParseUint(strings.TrimPrefix(k, prefix+kindMessage), 10, 64)
			if err != nil {
				continue
			}
			if err := r.public.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("relay: delete copy %d: %w", seq, err)
			}
		default:
			continue
		}
		if err := r.index.Purge(ctx, k); err != nil {
			return fmt.Errorf("relay: index of %s: %w", account, err)
		}
	}
	r.linked.forget(prefix + ".")
	return nil
}

// erasedSet is the accounts known erased, followed from the index on every
// replica.
type erasedSet struct {
	mu  sync.RWMutex
	set map[string]bool
}

func (s *erasedSet) add(account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		s.set = map[string]bool{}
	}
	s.set[account] = true
}

func (s *erasedSet) has(account string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.set[account]
}

// follow loads the erased marks and keeps following them until runCtx ends.
func (s *erasedSet) follow(ctx, runCtx context.Context, kv jetstream.KeyValue, wg *sync.WaitGroup) error {
	w, err := kv.Watch(runCtx, "*"+erasedSuffix, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("relay: watch erasures: %w", err)
	}
	loaded := make(chan struct{})
	wg.Go(func() {
		initial := true
		for e := range w.Updates() {
			if e == nil {
				if initial {
					initial = false
					close(loaded)
				}
				continue
			}
			s.add(accountOf(strings.TrimSuffix(e.Key(), erasedSuffix)))
		}
		if initial {
			close(loaded)
		}
	})
	select {
	case <-loaded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
