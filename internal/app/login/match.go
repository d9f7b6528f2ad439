package login

import (
	"context"
	"sync"

	"github.com/bindery/bindery/domain/account"
	dlogin "github.com/bindery/bindery/domain/login"
)

// match finds the account of the first candidate someone holds and reads
// that account fresh from the store. When this process saw the candidate's
// owner before, the account is read at the same time as the claim (two
// reads in flight, one wait: with the group sync policy every answer waits
// for a disk sync, and reads one after another wait for one each). The
// guess only saves time: the owner is always the claim's, read now, and an
// account read for a wrong guess is read again for the right one.
func (c *core) match(ctx context.Context, cands []dlogin.Candidate) (accID string, idx int, st *account.Account, err error) {
	for i, cand := range cands {
		key := cand.Kind + "\x00" + cand.Value
		guess := c.hints.get(key)
		var (
			owner string
			gst   *account.Account
			gerr  error
			wg    sync.WaitGroup
		)
		if guess != "" {
			wg.Go(func() { gst, _, gerr = c.Accounts.Repo.Refresh(ctx, guess) })
		}
		owner, err = c.Store.Owner(ctx, cand.Kind, cand.Value)
		wg.Wait()
		if err != nil {
			return "", -1, nil, err
		}
		if owner == "" {
			c.hints.forget(key)
			continue
		}
		c.hints.put(key, owner)
		if owner != guess || gerr != nil {
			gst, _, err = c.Accounts.Repo.Refresh(ctx, owner)
			if err != nil {
				return "", -1, nil, err
			}
		}
		return owner, i, gst, nil
	}
	return "", -1, nil, nil
}

// ownerHints remembers who held a candidate value when this process last
// looked (kind NUL value → account id), bounded: a full map is cleared, the
// cost of which is one sequential read per login until it fills again.
type ownerHints struct {
	mu sync.Mutex
	m  map[string]string
}

const maxOwnerHints = 100_000

func (h *ownerHints) get(key string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[key]
}

func (h *ownerHints) put(key, owner string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m[key] == owner {
		return
	}
	if h.m == nil || len(h.m) >= maxOwnerHints {
		h.m = make(map[string]string)
	}
	h.m[key] = owner
}

func (h *ownerHints) forget(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, key)
}
