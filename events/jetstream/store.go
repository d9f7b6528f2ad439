// Package jetstream is the events.Store on NATS JetStream: two streams (the
// durable history and the auth log), optimistic appends per aggregate with
// expected-last-subject-sequence headers, and uniqueness claims written in the
// same atomic batch as the events that make them.
package jetstream

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
)

// Stream names.
const (
	HistoryStream = "BINDERY_HISTORY"
	AuthLogStream = "BINDERY_AUTHLOG"
)

// ClaimPrefix starts the internal subjects of uniqueness claims (outside
// bindery.events.>, so downstream subscribers never see them).
const ClaimPrefix = "bindery.claims."

// SealPrefix starts the internal subjects of audit checkpoints.
const SealPrefix = "bindery.seal."

// HistoryTypes are the aggregate types kept forever.
var HistoryTypes = []string{events.AggregateApp, events.AggregateAccount, events.AggregateRole, events.AggregateOrg, events.AggregateWebhook, events.AggregateOIDCClient}

// Config shapes the streams.
type Config struct {
	Replicas      int           // 1 or 3
	AuthLogMaxAge time.Duration // retention of the auth log; 0 = forever
	Timeout       time.Duration // per request, when ctx has no deadline
	// ClaimKey keys the hashes that name uniqueness claims (HMAC-SHA256);
	// nil is the plain SHA-256 (tests only: SPEC §8 wants a keyed hash).
	ClaimKey []byte
}

// Store is the JetStream events.Store.
type Store struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	history jetstream.Stream
	authlog jetstream.Stream
	reg     *events.Registry
	cfg     Config
	// batchSlots bounds this store's atomic batches in flight per stream
	// (batchesInFlight).
	batchSlots map[string]chan struct{}
}

// batchesInFlight is how many atomic batches one store keeps open per
// stream. nats-server keeps at most 50 open per stream (a default of its
// max_batch_inflight_per_stream) and answers a batch beyond that with
// nothing at all (its first message is refused, the commit waits out its
// timeout); 24 lets two replicas share a stream under that limit.
const batchesInFlight = 24

var _ events.Store = (*Store)(nil)

// Open creates or updates the two streams and returns the store.
func Open(ctx context.Context, nc *nats.Conn, reg *events.Registry, cfg Config) (*Store, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s := &Store{nc: nc, js: js, reg: reg, cfg: cfg, batchSlots: map[string]chan struct{}{
		events.StreamHistory: make(chan struct{}, batchesInFlight), events.StreamAuthLog: make(chan struct{}, batchesInFlight),
	}}
	hist := []string{ClaimPrefix + ">", SealPrefix + "history"}
	for _, t := range HistoryTypes {
		hist = append(hist, events.SubjectPrefix+t+".>")
	}
	auth := []string{SealPrefix + "authlog"}
	for _, t := range events.AuthLogTypes() {
		auth = append(auth, events.SubjectPrefix+t+".>")
	}
	base := func(name string, subjects []string, maxAge time.Duration) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:               name,
			Subjects:           subjects,
			Storage:            jetstream.FileStorage,
			Retention:          jetstream.LimitsPolicy,
			MaxMsgsPerSubject:  -1,
			MaxAge:             maxAge,
			Replicas:           cfg.Replicas,
			Duplicates:         2 * time.Minute,
			DenyDelete:         true,
			DenyPurge:          true,
			AllowAtomicPublish: true,
			// Direct gets may be answered by followers; reads that decide must
			// see the leader's state, so only R1 streams allow them.
			AllowDirect: cfg.Replicas == 1,
		}
	}
	if s.history, err = js.CreateOrUpdateStream(ctx, base(HistoryStream, hist, 0)); err != nil {
		return nil, fmt.Errorf("jetstream: stream %s: %w", HistoryStream, err)
	}
	if s.authlog, err = js.CreateOrUpdateStream(ctx, base(AuthLogStream, auth, cfg.AuthLogMaxAge)); err != nil {
		return nil, fmt.Errorf("jetstream: stream %s: %w", AuthLogStream, err)
	}
	return s, nil
}

// JetStream exposes the context for consumers (projections, webhooks, audit).
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Conn is the NATS connection the store uses.
func (s *Store) Conn() *nats.Conn { return s.nc }

// Registry is the event registry the store decodes with.
func (s *Store) Registry() *events.Registry { return s.reg }

// StreamName maps events.StreamHistory/StreamAuthLog to the JetStream name.
func StreamName(kind string) string {
	if kind == events.StreamAuthLog {
		return AuthLogStream
	}
	return HistoryStream
}

func (s *Store) stream(kind string) jetstream.Stream {
	if kind == events.StreamAuthLog {
		return s.authlog
	}
	return s.history
}

type outMsg struct {
	subject string
	header  nats.Header
	data    []byte
}

// Append implements events.Store: the changes, encoded by events.Prepare,
// go out as one message (a plain publish) or one atomic batch, the claims
// after the events.
func (s *Store) Append(ctx context.Context, meta events.Meta, changes ...events.Change) ([]events.Record, error) {
	recs, msgs, err := s.build(ctx, meta, changes)
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	if len(msgs) > 1 {
		slots := s.batchSlots[events.StreamOf(changes[0].Aggregate.Type)]
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		case <-ctx.Done():
			return nil, fmt.Errorf("jetstream: publish: %w", ctx.Err())
		}
	}
	last, err := s.publish(ctx, msgs)
	if err != nil {
		return nil, err
	}
	return numbered(recs, msgs, last), nil
}

// build encodes the changes into the messages of one append: the events,
// each expecting its aggregate's last sequence, then the claims.
func (s *Store) build(ctx context.Context, meta events.Meta, changes []events.Change) ([]events.Record, []outMsg, error) {
	p, err := events.Prepare(ctx, s.reg, meta, changes)
	if err != nil {
		return nil, nil, err
	}
	msgs := make([]outMsg, len(p.Records))
	for i, r := range p.Records {
		h := nats.Header{}
		h.Set(jetstream.MsgIDHeader, r.Envelope.ID)
		msgs[i] = outMsg{subject: r.Subject, header: h, data: r.Raw}
	}
	for _, c := range p.Checks {
		h := msgs[c.At].header
		h.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(c.Expected, 10))
		h.Set(jetstream.ExpectedLastSubjSeqSubjHeader, c.Aggregate.Filter())
	}
	claims, err := s.claimMessages(ctx, p.Claims)
	if err != nil {
		return nil, nil, err
	}
	return p.Records, append(msgs, claims...), nil
}

// numbered gives the records their sequences. An atomic batch is stored
// contiguously: the ack names its last sequence, the events come first and
// the claims after them.
func numbered(recs []events.Record, msgs []outMsg, last uint64) []events.Record {
	first := last - uint64(len(msgs)) + 1
	for i := range recs {
		recs[i].Sequence = first + uint64(i)
	}
	return recs
}

// claimRecord is the payload stored on a claim subject.
type claimRecord struct {
	Kind  string `json:"kind"`
	Owner string `json:"owner"` // "" = released
	Event string `json:"event"` // the event that made or released the claim
}

// ClaimSubject is the internal subject of one unique value with no claim
// key (stores in tests): the value's plain SHA-256. The server always sets
// Config.ClaimKey, see ClaimSubjectKeyed.
func ClaimSubject(kind, value string) string { return ClaimSubjectKeyed(nil, kind, value) }

// ClaimSubjectKeyed is the internal subject of one unique value: an HMAC of
// it under the claim key, so that subjects stay valid tokens, carry no
// personal data, and cannot be reversed by trying every phone number
// (SPEC §8). A nil key is the plain SHA-256 of stores without one.
func ClaimSubjectKeyed(key []byte, kind, value string) string {
	var sum []byte
	if key == nil {
		s := sha256.Sum256([]byte(kind + "\x00" + value))
		sum = s[:]
	} else {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(kind + "\x00" + value))
		sum = m.Sum(nil)
	}
	return ClaimPrefix + kind + "." + hex.EncodeToString(sum[:16])
}

func (s *Store) claimSubject(kind, value string) string {
	return ClaimSubjectKeyed(s.cfg.ClaimKey, kind, value)
}

// claimMessages turns claims into claim messages, each expecting the
// claim subject's current last sequence, so that the batch fails as a whole
// if anyone claimed or released the value meanwhile.
func (s *Store) claimMessages(ctx context.Context, cs []events.Claim) ([]outMsg, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	// Read every claim subject first, in as few round trips as the stream
	// allows: a bulk append claims hundreds of values (claims.go).
	subjects := make([]string, len(cs))
	for i, c := range cs {
		subjects[i] = s.claimSubject(c.Kind, c.Value)
	}
	states, err := s.claimStates(ctx, subjects)
	if err != nil {
		return nil, err
	}
	var out []outMsg
	for i, c := range cs {
		subj := subjects[i]
		write, owner, err := c.Against(states[subj].owner)
		if err != nil {
			return nil, err
		}
		if !write {
			continue
		}
		data, _ := json.Marshal(claimRecord{Kind: c.Kind, Owner: owner, Event: c.Event})
		h := nats.Header{}
		h.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(states[subj].seq, 10))
		out = append(out, outMsg{subject: subj, header: h, data: data})
	}
	return out, nil
}

func (s *Store) claimState(ctx context.Context, subj string) (owner string, seq uint64, err error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	m, err := lastMsg(ctx, s.history, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("jetstream: read claim: %w", err)
	}
	var rec claimRecord
	if err := json.Unmarshal(m.Data, &rec); err != nil {
		return "", 0, fmt.Errorf("jetstream: claim %s: %w", subj, err)
	}
	return rec.Owner, m.Sequence, nil
}

// Owner implements events.Store.
func (s *Store) Owner(ctx context.Context, kind, value string) (string, error) {
	owner, _, err := s.claimState(ctx, s.claimSubject(kind, value))
	return owner, err
}

type pubAck struct {
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Error     *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error,omitempty"`
}

// JetStream's answers to a stale expected sequence: 10071 names the real
// last sequence; 10164 (replicated streams, in-flight subject) does not.
const (
	errWrongLastSeq      = 10071
	errWrongLastSeqConst = 10164
)

// publish stores msgs: one as a plain publish, several as one atomic batch.
func (s *Store) publish(ctx context.Context, msgs []outMsg) (uint64, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var reply *nats.Msg
	var err error
	if len(msgs) == 1 {
		m := &nats.Msg{Subject: msgs[0].subject, Header: msgs[0].header, Data: msgs[0].data}
		reply, err = s.nc.RequestMsgWithContext(ctx, m)
	} else {
		batch := uuid.NewString()
		for i, om := range msgs {
			om.header.Set("Nats-Batch-Id", batch)
			om.header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
			m := &nats.Msg{Subject: om.subject, Header: om.header, Data: om.data}
			if i < len(msgs)-1 {
				if err = s.nc.PublishMsg(m); err != nil {
					return 0, fmt.Errorf("jetstream: publish: %w", err)
				}
				continue
			}
			m.Header.Set("Nats-Batch-Commit", "1")
			reply, err = s.nc.RequestMsgWithContext(ctx, m)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("jetstream: publish: %w", err)
	}
	return parseAck(reply.Data)
}

// parseAck reads a publish acknowledgement: the stored sequence, or the
// refusal (a stale expected sequence is events.ErrConflict).
func parseAck(data []byte) (uint64, error) {
	if seq, ok := plainAck(data); ok {
		return seq, nil
	}
	var ack pubAck
	if err := json.Unmarshal(data, &ack); err != nil {
		return 0, fmt.Errorf("jetstream: bad publish ack: %w", err)
	}
	if ack.Error != nil {
		switch ack.Error.ErrCode {
		case errWrongLastSeq, errWrongLastSeqConst:
			return 0, events.ErrConflict
		}
		return 0, fmt.Errorf("jetstream: publish: %s (%d)", ack.Error.Description, ack.Error.ErrCode)
	}
	return ack.Sequence, nil
}

// plainAck reads the acknowledgement of a stored message in the one
// shape nats-server writes it, {"stream":"NAME","seq":N}, without
// reflection (every append waits for one); anything else, refusals and
// duplicates included, is left to encoding/json.
func plainAck(data []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(`{"stream":"`))
	if !ok {
		return 0, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		return 0, false
	}
	digits, ok := bytes.CutPrefix(rest[i+1:], []byte(`,"seq":`))
	if !ok {
		return 0, false
	}
	digits, ok = bytes.CutSuffix(digits, []byte("}"))
	if !ok || len(digits) == 0 || len(digits) > 19 {
		return 0, false
	}
	var seq uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		seq = seq*10 + uint64(c-'0')
	}
	return seq, seq > 0
}

func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.Timeout)
}

// Load implements events.Store. It first asks for the aggregate's last
// event (the server finds it through its subject index), then walks the
// aggregate's subjects with next-by-subject gets up to that event. It never
// asks for "the next one after the last": on a stream with many subjects the
// server answers that final, empty probe by scanning every later block.
func (s *Store) Load(ctx context.Context, agg events.Aggregate, after uint64) ([]events.Record, error) {
	kind := events.StreamOf(agg.Type)
	st := s.stream(kind)
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	last, err := lastMsg(ctx, st, agg.Filter())
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: load %s: %w", agg, err)
	}
	if last.Sequence <= after {
		return nil, nil
	}
	var out []events.Record
	for seq := after + 1; seq <= last.Sequence; {
		m := last
		if seq < last.Sequence {
			m, err = nextMsg(ctx, st, seq, agg.Filter())
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return out, nil // aged out of the auth log meanwhile
			}
			if err != nil {
				return nil, fmt.Errorf("jetstream: load %s: %w", agg, err)
			}
		}
		rec, err := events.DecodeRecord(s.reg, kind, m.Sequence, m.Subject, m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
		seq = m.Sequence + 1
	}
	return out, nil
}

// Version implements events.Store with one subject-index lookup.
func (s *Store) Version(ctx context.Context, agg events.Aggregate) (uint64, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	last, err := lastMsg(ctx, s.stream(events.StreamOf(agg.Type)), agg.Filter())
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("jetstream: version of %s: %w", agg, err)
	}
	return last.Sequence, nil
}

// Head implements events.Store.
func (s *Store) Head(ctx context.Context) (events.Position, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	hi, err := s.history.Info(ctx)
	if err != nil {
		return events.Position{}, err
	}
	ai, err := s.authlog.Info(ctx)
	if err != nil {
		return events.Position{}, err
	}
	return events.Position{History: hi.State.LastSeq, AuthLog: ai.State.LastSeq}, nil
}
