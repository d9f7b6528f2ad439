package accountsync

import (
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/usecase"
)

// plan is what one pending line will do.
type plan struct {
	line     *syncLine
	id       string
	created  bool              // the account is new (id just made)
	events   []events.Event    // nil: unchanged (or failed)
	keys     []string          // the account and every unique value it touches
	claims   []events.ClaimKey // the values it claims (not those it frees)
	messages int               // what its append stores: events and claims
	err      error
}

// flush applies a batch of pending lines in one append. Lines that touch
// an account or a unique value an earlier line of the batch touches (the
// same external_id twice, a phone one line frees and the next takes) end
// the batch: they stay pending and are decided on the state after it, so
// the file applies as if line by line.
//
// A batch is appended while the next one is read and planned. A plan that
// touches what the batch in flight touches waits for it and is made again
// on the state after it.
func (r *syncRun) flush() error {
	lines := r.pending
	plans, err := r.plan(lines)
	if err != nil {
		return err
	}
	if r.flight.touches(plans) {
		if err := r.settle(); err != nil {
			return err
		}
		if plans, err = r.plan(lines); err != nil {
			return err
		}
	}
	taken, err := r.taken(plans)
	if err != nil {
		return err
	}
	touched := map[string]bool{}
	messages := 0
	var batch []*plan
	cut := len(plans)
walk:
	for i, p := range plans {
		for _, k := range p.keys {
			if touched[k] {
				cut = i
				break walk
			}
		}
		if messages+p.messages > maxBatchMessages && len(batch) > 0 {
			cut = i
			break
		}
		for _, k := range p.keys {
			touched[k] = true
		}
		switch {
		case p.err != nil:
			r.fail(p.line.n, p.err)
		case len(p.events) == 0:
			r.report.Unchanged++
		default:
			if err := p.checkTaken(taken); err != nil {
				r.fail(p.line.n, err)
				continue
			}
			messages += p.messages
			batch = append(batch, p)
		}
	}
	r.pending = append(r.pending[:0:0], lines[cut:]...)
	r.prepareKeys(batch)
	// One append at a time: batches land in the order of the file.
	if err := r.settle(); err != nil {
		return err
	}
	return r.start(batch, touched)
}

// plan decides each line on the current state of its account: the owner
// of its external_id (read from the claims, strongly consistent), and the
// account's state refreshed from the store.
func (r *syncRun) plan(lines []syncLine) ([]*plan, error) {
	keys := make([]events.ClaimKey, len(lines))
	for i, l := range lines {
		keys[i] = events.ClaimKey{Kind: events.ClaimExternalID, Value: l.rec.ExternalID}
	}
	owners, err := events.Owners(r.ctx, r.Store, keys)
	if err != nil {
		return nil, err
	}
	var existing []string
	seen := map[string]bool{}
	for _, id := range owners {
		if !seen[id] {
			seen[id] = true
			existing = append(existing, id)
		}
	}
	// Fresh state, not the cache: a decision that appends nothing
	// ("unchanged") must not rest on a cache another replica outdated.
	states, err := r.Accounts.Repo.RefreshMany(r.ctx, existing)
	if err != nil {
		return nil, err
	}
	plans := make([]*plan, len(lines))
	for i := range lines {
		l := &lines[i]
		p := &plan{line: l, id: owners[keys[i]]}
		var st *account.Account
		if p.id == "" {
			p.id, p.created = r.Accounts.NewID(), true
			st = account.New(p.id)
		} else {
			st = states[p.id].Clone()
		}
		p.keys = []string{"account\x00" + p.id, events.ClaimExternalID + "\x00" + l.rec.ExternalID}
		plans[i] = p
		rec, err := r.record(l)
		if err != nil {
			p.err = err
			continue
		}
		if p.events, p.err = st.Sync(rec); p.err != nil {
			continue
		}
		p.messages = len(p.events)
		for _, e := range p.events {
			c, ok := e.(events.Constrainer)
			if !ok {
				continue
			}
			for _, k := range c.UniqueConstraints() {
				p.messages++
				p.keys = append(p.keys, k.Kind+"\x00"+k.Value)
				if !k.Release {
					p.claims = append(p.claims, events.ClaimKey{Kind: k.Kind, Value: k.Value})
				}
			}
		}
	}
	return plans, nil
}

// record is the line's record with its password hash sealed (once per
// line, so that every decision on it appends the same ciphertext).
func (r *syncRun) record(l *syncLine) (account.SyncRecord, error) {
	rec := l.rec
	if l.hash == "" || rec.PasswordSealed != "" {
		return rec, nil
	}
	sealed, err := r.Accounts.Box.Seal([]byte(l.hash), accounts.PasswordAAD)
	if err != nil {
		return rec, err
	}
	hash, box := l.hash, r.Accounts.Box
	rec.PasswordSealed = sealed
	rec.SamePassword = func(cur string) bool {
		if cur == "" {
			return false
		}
		old, err := box.Open(cur, accounts.PasswordAAD)
		return err == nil && string(old) == hash
	}
	l.rec = rec
	return rec, nil
}

// taken reads who holds the values the planned lines claim.
func (r *syncRun) taken(plans []*plan) (map[events.ClaimKey]string, error) {
	var keys []events.ClaimKey
	for _, p := range plans {
		keys = append(keys, p.claims...)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return events.Owners(r.ctx, r.Store, keys)
}

// checkTaken fails a line that claims a value another account holds.
func (p *plan) checkTaken(taken map[events.ClaimKey]string) error {
	for _, k := range p.claims {
		if owner := taken[k]; owner != "" && owner != p.id {
			return usecase.Translate(&events.ClaimTakenError{Kind: k.Kind, Owner: owner})
		}
	}
	return nil
}

// prepareKeys makes the data keys of the batch's new accounts now, while
// the batch before it is appended. A failure is left to the append, which
// prepares them again and reports it.
func (r *syncRun) prepareKeys(batch []*plan) {
	if r.Keys == nil {
		return
	}
	var owners []string
	for _, p := range batch {
		if p.created {
			owners = append(owners, events.KeyOwner(events.Aggregate{Type: events.AggregateAccount, ID: p.id}))
		}
	}
	if len(owners) > 0 {
		_ = r.Keys.Prepare(r.ctx, owners)
	}
}
