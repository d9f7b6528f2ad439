package service

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/projections"
)

// Sync runs bulk account syncs: NDJSON records in the customer's field
// names, mapped by the app's field_mapping, upserted by external_id (SPEC
// §2 "Account sources"). It reads the body as a stream, so memory stays
// flat whatever its size, and appends a batch of records at a time.
type Sync struct {
	Accounts *Accounts
	Store    events.Store
	Now      Clock
	Log      *slog.Logger
	// Batch is how many records go into one append (JetStream's atomic
	// batches hold at most 1000 messages: a batch is also cut there).
	Batch int
	// MaxLine bounds one line, MaxBytes the whole body, MaxFailures the
	// failures the report lists (the rest are only counted).
	MaxLine     int
	MaxBytes    int64
	MaxFailures int
}

// Defaults of a Sync.
const (
	DefaultSyncBatch       = 200
	DefaultSyncMaxLine     = 64 << 10
	DefaultSyncMaxBytes    = 1 << 30
	DefaultSyncMaxFailures = 10000
	// maxBatchMessages is JetStream's limit on one atomic batch.
	maxBatchMessages = 1000
)

// NewSync wires bulk sync to the account commands and the store.
func NewSync(accounts *Accounts, store events.Store) *Sync {
	return &Sync{Accounts: accounts, Store: store, Now: time.Now, Log: slog.New(slog.DiscardHandler)}
}

// SyncReport is what a sync did, line by line.
type SyncReport struct {
	Created   int           `json:"created"`
	Updated   int           `json:"updated"`
	Unchanged int           `json:"unchanged"`
	Failed    []SyncFailure `json:"failed"`
	// FailedOmitted counts the failures past MaxFailures, not listed.
	FailedOmitted int `json:"failed_omitted,omitempty"`
}

// SyncFailure is one line that was not applied.
type SyncFailure struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Run syncs the NDJSON records of body into the accounts, with a's field
// mapping. Bad lines are reported and skipped; only a store failure (or
// the context ending) stops it, with an error — what was appended before
// stays, and running the same file again is safe (upserts are idempotent).
func (s *Sync) Run(ctx context.Context, meta events.Meta, a projections.App, body io.Reader) (SyncReport, events.Position, error) {
	r := &syncRun{Sync: s, ctx: ctx, meta: meta, fields: newFieldMap(a.FieldMapping), report: SyncReport{Failed: []SyncFailure{}}}
	r.batch = orDefault(s.Batch, DefaultSyncBatch)
	maxLine := orDefault(s.MaxLine, DefaultSyncMaxLine)
	maxBytes := orDefault(s.MaxBytes, DefaultSyncMaxBytes)
	start := s.now()
	err := r.read(body, maxLine, maxBytes)
	if err == nil {
		err = r.flushAll()
	}
	if err != nil && r.flight != nil {
		<-r.flight.done // never leave an append running
	}
	s.log().Info("account sync", "app", a.ID, "created", r.report.Created, "updated", r.report.Updated,
		"unchanged", r.report.Unchanged, "failed", len(r.report.Failed)+r.report.FailedOmitted,
		"duration_ms", s.now().Sub(start).Milliseconds(), "err", err)
	if err != nil {
		return SyncReport{}, events.Position{}, err
	}
	// Parse failures are known at once, decisions a batch later.
	slices.SortStableFunc(r.report.Failed, func(x, y SyncFailure) int { return x.Line - y.Line })
	return r.report, r.pos, nil
}

// orDefault is v, or def when v is not set.
func orDefault[T int | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func (s *Sync) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Sync) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// syncRun is the state of one Run.
type syncRun struct {
	*Sync
	ctx     context.Context
	meta    events.Meta
	fields  fieldMap
	batch   int
	pending []syncLine
	report  SyncReport
	pos     events.Position
	// flight is the batch being appended while the next one is read and
	// planned (nil: none).
	flight *flight
}

func (r *syncRun) fail(line int, err error) {
	if len(r.report.Failed) >= orDefault(r.MaxFailures, DefaultSyncMaxFailures) {
		r.report.FailedOmitted++
		return
	}
	f := SyncFailure{Line: line, Code: "validation_failed", Message: err.Error()}
	var de *domain.Error
	if errors.As(err, &de) {
		f.Code, f.Message = de.Code, de.Message
	}
	r.report.Failed = append(r.report.Failed, f)
}

// read parses the body line by line (blank lines are skipped, line
// numbers count every line) and flushes a batch whenever one is full.
func (r *syncRun) read(body io.Reader, maxLine int, maxBytes int64) error {
	br := bufio.NewReaderSize(io.LimitReader(body, maxBytes+1), maxLine+2) // room for "\r\n"
	var read int64
	for n := 1; ; n++ {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		line, err := br.ReadSlice('\n')
		read += int64(len(line))
		if errors.Is(err, bufio.ErrBufferFull) {
			r.fail(n, lineError("line_too_long", "the line is longer than %d bytes", maxLine))
			for errors.Is(err, bufio.ErrBufferFull) { // skip the rest of it
				line, err = br.ReadSlice('\n')
				read += int64(len(line))
			}
			line = nil
		}
		if read > maxBytes {
			r.fail(n, domain.New(domain.KindTooLarge, "body_too_large", "the body is larger than %d bytes: this line and the rest were not read", maxBytes))
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			if cerr := r.ctx.Err(); cerr != nil {
				return cerr
			}
			return domain.New(domain.KindValidation, "incomplete_body", "the body could not be read to its end (line %d): %v", n, err)
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			rec, hash, perr := r.fields.parse(trimmed)
			if perr != nil {
				r.fail(n, perr)
			} else {
				r.pending = append(r.pending, syncLine{n: n, rec: rec, hash: hash})
				if len(r.pending) >= r.batch {
					if err := r.flush(); err != nil {
						return err
					}
				}
			}
		}
		if err != nil { // io.EOF
			return nil
		}
	}
}

// flushAll applies what is pending.
func (r *syncRun) flushAll() error {
	for len(r.pending) > 0 {
		if err := r.flush(); err != nil {
			return err
		}
	}
	return r.settle()
}

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
	sealed, err := r.Accounts.Box.Seal([]byte(l.hash), PasswordAAD)
	if err != nil {
		return rec, err
	}
	hash, box := l.hash, r.Accounts.Box
	rec.PasswordSealed = sealed
	rec.SamePassword = func(cur string) bool {
		if cur == "" {
			return false
		}
		old, err := box.Open(cur, PasswordAAD)
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
			return translate(&events.ClaimTakenError{Kind: k.Kind, Owner: owner})
		}
	}
	return nil
}

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
			r.fail(p.line.n, translate(f.errs[i]))
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
			err = translate(err)
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
