package accountsync

import (
	"errors"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// flight is one batch's append, running while the next batch is planned.
type flight struct {
	batch    []*plan
	keys     map[string]bool
	outcomes []string
	done     chan struct{}
	pos      events.Position
	errs     []error
	err      error
}

// touches reports whether a plan touches an account or a value the batch
// in flight touches.
func (f *flight) touches(plans []*plan) bool {
	if f == nil {
		return false
	}
	for _, p := range plans {
		for _, k := range p.keys {
			if f.keys[k] {
				return true
			}
		}
	}
	return false
}

// start appends the batch's decisions together, in the background.
func (r *syncRun) start(batch []*plan, keys map[string]bool) error {
	if len(batch) == 0 {
		return nil
	}
	meta := r.meta
	meta.Time = r.now()
	f := &flight{batch: batch, keys: keys, outcomes: make([]string, len(batch)), done: make(chan struct{})}
	items := make([]events.Item[*account.Account], len(batch))
	for i, p := range batch {
		rec, err := r.record(p.line)
		if err != nil {
			return err
		}
		items[i] = events.Item[*account.Account]{ID: p.id, New: p.created, Decide: func(a *account.Account) (events.Decision, error) {
			evs, err := a.Sync(rec)
			f.outcomes[i] = outcome(evs)
			return events.Decision{Events: evs}, err
		}}
	}
	r.flight = f
	go func() {
		defer close(f.done)
		f.pos, f.errs, f.err = r.Accounts.Repo.UpdateMany(r.ctx, meta, items)
	}()
	return nil
}

// settle waits for the batch in flight and reports it. When its append
// failed as a whole (a value claimed or an account changed meanwhile), it
// applies the lines one by one, so the good ones land and the bad one is
// reported.
func (r *syncRun) settle() error {
	f := r.flight
	if f == nil {
		return nil
	}
	<-f.done
	r.flight = nil
	var taken *events.ClaimTakenError
	if errors.Is(f.err, events.ErrConflict) || errors.As(f.err, &taken) {
		for _, p := range f.batch {
			if err := r.one(p.line); err != nil {
				return err
			}
		}
		return nil
	}
	if f.err != nil {
		return f.err
	}
	r.pos = r.pos.Max(f.pos)
	for i, p := range f.batch {
		switch {
		case errors.Is(f.errs[i], account.ErrExternalIDMoved):
			if err := r.one(p.line); err != nil { // find it again
				return err
			}
		case f.errs[i] != nil:
			r.fail(p.line.n, usecase.Translate(f.errs[i]))
		default:
			r.count(f.outcomes[i])
		}
	}
	return nil
}

// one applies one line on its own (the fallback of a failed batch): it
// finds the account by external_id again and decides on fresh state,
// retrying when the external_id moved meanwhile.
func (r *syncRun) one(l *syncLine) error {
	rec, err := r.record(l)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		id, err := r.Store.Owner(r.ctx, events.ClaimExternalID, rec.ExternalID)
		if err != nil {
			return err
		}
		if id == "" {
			id = r.Accounts.NewID()
		} else if _, _, err := r.Accounts.Repo.Refresh(r.ctx, id); err != nil {
			return err
		}
		meta := r.meta
		meta.Time = r.now()
		var out string
		pos, _, err := r.Accounts.Repo.Update(r.ctx, id, meta, func(a *account.Account) (events.Decision, error) {
			evs, err := a.Sync(rec)
			out = outcome(evs)
			return events.Decision{Events: evs}, err
		})
		var taken *events.ClaimTakenError
		moved := errors.Is(err, account.ErrExternalIDMoved) || (errors.As(err, &taken) && taken.Kind == events.ClaimExternalID)
		if moved && attempt < 3 {
			continue // someone else created or renamed it: find it again
		}
		if err != nil {
			err = usecase.Translate(err)
			var de *domain.Error
			if !errors.As(err, &de) {
				return err // the store failed: stop the sync
			}
			r.fail(l.n, de)
			return nil
		}
		r.pos = r.pos.Max(pos)
		r.count(out)
		return nil
	}
}

// Outcomes of one line.
const (
	outcomeCreated   = "created"
	outcomeUpdated   = "updated"
	outcomeUnchanged = "unchanged"
)

func outcome(evs []events.Event) string {
	for _, e := range evs {
		switch e.(type) {
		case events.AccountCreated:
			return outcomeCreated
		case events.AccountUpdated:
			return outcomeUpdated
		}
	}
	return outcomeUnchanged
}

func (r *syncRun) count(out string) {
	switch out {
	case outcomeCreated:
		r.report.Created++
	case outcomeUpdated:
		r.report.Updated++
	default:
		r.report.Unchanged++
	}
}
