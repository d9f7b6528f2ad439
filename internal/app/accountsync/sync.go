// Package accountsync runs bulk account syncs: NDJSON records in the
// customer's field names, upserted by external_id.
package accountsync

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/projections"
)

// Service runs bulk account syncs: NDJSON records in the customer's field
// names, mapped by the app's field_mapping, upserted by external_id (SPEC
// §2 "Account sources"). It reads the body as a stream, so memory stays
// flat whatever its size, and appends a batch of records at a time.
type Service struct {
	Accounts *accounts.Service
	Store    events.Store
	Now      usecase.Clock
	Log      *slog.Logger
	// Batch is how many records go into one append (JetStream's atomic
	// batches hold at most 1000 messages: a batch is also cut there).
	Batch int
	// MaxLine bounds one line, MaxBytes the whole body, MaxFailures the
	// failures the report lists (the rest are only counted).
	MaxLine     int
	MaxBytes    int64
	MaxFailures int
	// Keys, when set, makes the data keys of a batch's new accounts while
	// the batch before it is appended: their creation and that append
	// then share one wait for the disk instead of taking two in a row.
	Keys events.Sealer
}

// Defaults of a Service.
const (
	DefaultBatch       = 200
	DefaultMaxLine     = 64 << 10
	DefaultMaxBytes    = 1 << 30
	DefaultMaxFailures = 10000
	// maxBatchMessages is JetStream's limit on one atomic batch.
	maxBatchMessages = 1000
)

// New wires bulk sync to the account commands and the store.
func New(accts *accounts.Service, store events.Store) *Service {
	usecase.Require("accountsync.New", "accounts", accts, "store", store)
	return &Service{Accounts: accts, Store: store, Now: time.Now, Log: slog.New(slog.DiscardHandler)}
}

// Report is what a sync did, line by line.
type Report struct {
	Created   int       `json:"created"`
	Updated   int       `json:"updated"`
	Unchanged int       `json:"unchanged"`
	Failed    []Failure `json:"failed"`
	// FailedOmitted counts the failures past MaxFailures, not listed.
	FailedOmitted int `json:"failed_omitted,omitempty"`
}

// Failure is one line that was not applied.
type Failure struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Run syncs the NDJSON records of body into the accounts, with a's field
// mapping. Bad lines are reported and skipped; only a store failure (or
// the context ending) stops it, with an error — what was appended before
// stays, and running the same file again is safe (upserts are idempotent).
func (s *Service) Run(ctx context.Context, meta events.Meta, a projections.App, body io.Reader) (Report, events.Position, error) {
	r := &syncRun{Service: s, ctx: ctx, meta: meta, fields: newFieldMap(a.FieldMapping), report: Report{Failed: []Failure{}}}
	r.batch = orDefault(s.Batch, DefaultBatch)
	maxLine := orDefault(s.MaxLine, DefaultMaxLine)
	maxBytes := orDefault(s.MaxBytes, DefaultMaxBytes)
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
		return Report{}, events.Position{}, err
	}
	// Parse failures are known at once, decisions a batch later.
	slices.SortStableFunc(r.report.Failed, func(x, y Failure) int { return x.Line - y.Line })
	return r.report, r.pos, nil
}

// orDefault is v, or def when v is not set.
func orDefault[T int | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}
