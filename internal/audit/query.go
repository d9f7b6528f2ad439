package audit

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
)

// Query limits.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// AccountField is the data field that names an account in events of other
// aggregates (logins, sessions, QR confirmations, org memberships): the
// account filter matches it.
const AccountField = "account_id"

// Filter selects events. Every set field must match.
type Filter struct {
	AggregateType string // account, app, session, …
	AggregateID   string // with AggregateType
	Event         string // short name: account_created
	Type          string // full CloudEvents type, when given as such
	Account       string // the account's own events and those naming it
	Since         time.Time
	Until         time.Time // exclusive
	After         events.Position
	Limit         int // 0 = no limit (the CLI); the API uses DefaultLimit
}

var (
	tokenPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	namePattern    = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	typePattern    = regexp.MustCompile(`^bindery\.([a-z0-9_]{1,64})\.v[1-9][0-9]{0,3}$`)
	filterParams   = []string{"aggregate", "type", "account", "since", "until", "after", "limit"}
	allowedParams  = map[string]bool{"min_position": true}
	errLimitFormat = "limit: a number from 1 to %d"
)

func init() {
	for _, p := range filterParams {
		allowedParams[p] = true
	}
}

// ParseFilter reads the query parameters of GET /v1/audit/events (and the
// CLI's flags, which have the same names). Every bad value is a
// validation_failed error naming the parameter.
func ParseFilter(q url.Values, defaultLimit int) (Filter, error) {
	for k := range q {
		if !allowedParams[k] {
			return Filter{}, domain.Invalid("unknown query parameter %q (use %s)", k, strings.Join(filterParams, ", "))
		}
	}
	f := Filter{Limit: defaultLimit}
	if v := q.Get("aggregate"); v != "" {
		typ, id, hasID := strings.Cut(v, "/")
		if !namePattern.MatchString(typ) || (hasID && !tokenPattern.MatchString(id)) {
			return Filter{}, domain.Invalid("aggregate: use <type> or <type>/<id>, like account/7c9e…")
		}
		f.AggregateType, f.AggregateID = typ, id
	}
	if v := q.Get("type"); v != "" {
		switch {
		case namePattern.MatchString(v):
			f.Event = v
		case typePattern.MatchString(v):
			f.Event, f.Type = typePattern.FindStringSubmatch(v)[1], v
		default:
			return Filter{}, domain.Invalid("type: use an event name (account_created) or a CloudEvents type (bindery.account_created.v1)")
		}
		if !knownEvent(f.Event) {
			return Filter{}, domain.Invalid("type: %q is not a Bindery event (see docs/events.md)", v)
		}
	}
	if v := q.Get("account"); v != "" {
		if !tokenPattern.MatchString(v) {
			return Filter{}, domain.Invalid("account: not an account id")
		}
		f.Account = v
	}
	var err error
	if v := q.Get("since"); v != "" {
		if f.Since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return Filter{}, domain.Invalid("since: an RFC 3339 time, like 2026-01-02T15:04:05Z")
		}
	}
	if v := q.Get("until"); v != "" {
		if f.Until, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return Filter{}, domain.Invalid("until: an RFC 3339 time, like 2026-01-02T15:04:05Z")
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return Filter{}, domain.Invalid("until must be after since")
	}
	if v := q.Get("after"); v != "" {
		if f.After, err = events.ParsePosition(v); err != nil {
			return Filter{}, domain.Invalid("after: a position token like h120.a37 (the next of a previous page)")
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return Filter{}, domain.Invalid(errLimitFormat, MaxLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// Values is the filter as query parameters (what the CLI sends).
func (f Filter) Values() url.Values {
	q := url.Values{}
	if f.AggregateType != "" {
		v := f.AggregateType
		if f.AggregateID != "" {
			v += "/" + f.AggregateID
		}
		q.Set("aggregate", v)
	}
	switch {
	case f.Type != "":
		q.Set("type", f.Type)
	case f.Event != "":
		q.Set("type", f.Event)
	}
	if f.Account != "" {
		q.Set("account", f.Account)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	if !f.After.IsZero() {
		q.Set("after", f.After.String())
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// Item is one event a query yields: the stored bytes as they are (their
// SHA-256 is the next event's prevhash) with where they are stored.
type Item struct {
	Stream   string // events.StreamHistory or events.StreamAuthLog
	Sequence uint64
	Subject  string
	Raw      []byte
	Time     time.Time
	// Erased: the event's personal values are sealed under a data key
	// that was destroyed (its person erased, or a login attempt's key
	// expired with the auth log): they can never be opened again.
	Erased bool
}

// Line is the NDJSON line of an item: the stored CloudEvent with extension
// attributes appended, "stream", "sequence" and, when its sealed values'
// key is destroyed, "erased":true. Removing them (every member from
// "stream" on) gives back the stored bytes exactly.
func (it Item) Line(buf []byte) []byte {
	raw := it.Raw
	if n := len(raw); n < 2 || raw[n-1] != '}' {
		return append(append(buf, raw...), '\n')
	}
	buf = append(buf, raw[:len(raw)-1]...)
	buf = append(buf, `,"stream":"`...)
	buf = append(buf, it.Stream...)
	buf = append(buf, `","sequence":`...)
	buf = strconv.AppendUint(buf, it.Sequence, 10)
	if it.Erased {
		buf = append(buf, `,"erased":true`...)
	}
	return append(buf, "}\n"...)
}

// Result says where a query stopped.
type Result struct {
	Count int             `json:"count"`
	Next  events.Position `json:"-"`
	More  bool            `json:"more"` // the limit stopped it: ask again from Next
	Head  events.Position `json:"-"`    // the streams' heads when it started
}

// MarshalJSON writes the positions as tokens.
func (r Result) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"next":%q,"count":%d,"more":%t,"head":%q}`, r.Next.String(), r.Count, r.More, r.Head.String()), nil
}

// Reader queries the event streams.
type Reader struct {
	JS jetstream.JetStream
	// Erased reports whether a data key is destroyed (datakeys.Keyring);
	// nil marks nothing erased.
	Erased func(owner string) bool
}

// markErased sets it.Erased when its sealed values' key is gone. One
// event's values are all sealed under its aggregate's key, so the first
// token names it.
func (r *Reader) markErased(it *Item) {
	if r.Erased == nil || !events.IsSealed(it.Raw) {
		return
	}
	_, rest, ok := bytes.Cut(it.Raw, []byte(`"`+events.SealedMember+`":"v1:`))
	if !ok {
		return
	}
	owner, _, ok := bytes.Cut(rest, []byte(":"))
	it.Erased = ok && r.Erased(string(owner))
}

// source is one stream's part of a query.
type source struct {
	kind    string
	cur     *cursor
	head    *Item // read but not yet emitted (the merge's look-ahead)
	filters []string
}

// Events runs the query over the streams as they are when it starts (their
// heads), calling emit for each matching event. The two streams are merged
// by event time (the CloudEvents time; on equal times the history stream
// first), each in its own stream order; Next names, per stream, the last
// sequence read, so asking again with After = Next neither skips nor
// repeats an event, whatever was appended meanwhile. It holds at most a pull
// batch per stream in memory.
func (r *Reader) Events(ctx context.Context, f Filter, emit func(Item) error) (Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var res Result
	var srcs []*source
	defer func() {
		for _, s := range srcs {
			if s.cur != nil {
				s.cur.close()
			}
		}
	}()
	for _, kind := range []string{events.StreamHistory, events.StreamAuthLog} {
		st, err := r.JS.Stream(ctx, bjs.StreamName(kind))
		if err != nil {
			return res, fmt.Errorf("audit: stream %s: %w", kind, err)
		}
		info := st.CachedInfo()
		after := f.After.History
		if kind == events.StreamAuthLog {
			res.Head.AuthLog = info.State.LastSeq
			after = f.After.AuthLog
		} else {
			res.Head.History = info.State.LastSeq
		}
		src := &source{kind: kind, filters: f.subjects(info.Config.Subjects)}
		if src.filters == nil {
			// Nothing in this stream can match: it is read completely.
			src.cur = &cursor{exhausted: true, end: info.State.LastSeq, last: after}
		} else if src.cur, err = openCursor(ctx, r.JS, bjs.StreamName(kind), src.filters, after, info.State.LastSeq); err != nil {
			return res, err
		}
		srcs = append(srcs, src)
	}
	for {
		// Fill each source's look-ahead with its next matching event.
		for _, s := range srcs {
			for s.head == nil && !s.cur.done() {
				msg, seq, err := s.cur.next()
				if err != nil {
					res.Next = positionOf(srcs)
					return res, err
				}
				if msg == nil {
					break
				}
				if it, ok := f.match(s.kind, seq, msg); ok {
					s.head = &it
				}
			}
		}
		var pick *source
		for _, s := range srcs {
			if s.head != nil && (pick == nil || s.head.Time.Before(pick.head.Time)) {
				pick = s
			}
		}
		if pick == nil {
			res.Next = positionOf(srcs)
			return res, nil
		}
		if f.Limit > 0 && res.Count >= f.Limit {
			res.More = true
			res.Next = positionOf(srcs)
			return res, nil
		}
		r.markErased(pick.head)
		if err := emit(*pick.head); err != nil {
			pick.head = nil
			res.Next = positionOf(srcs)
			return res, err
		}
		res.Count++
		pick.head = nil
	}
}

// positionOf is where each source has reached, not counting a look-ahead
// that was read but not emitted.
func positionOf(srcs []*source) events.Position {
	var p events.Position
	for _, s := range srcs {
		seq := s.cur.position()
		if s.head != nil {
			seq = before(s.head.Sequence)
		}
		if s.kind == events.StreamAuthLog {
			p.AuthLog = seq
		} else {
			p.History = seq
		}
	}
	return p
}

// subjects are the consumer filters of the query on a stream whose
// subjects are streamSubjects: nil when nothing there can match, empty when
// the whole stream is read (and filtered here: a server-side filter that
// keeps most messages slows delivery several times, one that names an
// aggregate or an event name skips most of the stream).
func (f Filter) subjects(streamSubjects []string) []string {
	subj := events.SubjectPrefix + orStar(f.AggregateType) + "." + orStar(f.AggregateID) + "." + orStar(f.Event)
	if f.Account != "" && f.AggregateType == "" {
		// The account's own aggregate is in the history; events naming it
		// can be anywhere.
		subj = events.SubjectPrefix + "*.*." + orStar(f.Event)
	}
	out := overlapping(subj, streamSubjects)
	if out != nil && f.AggregateID == "" && f.Event == "" {
		return []string{}
	}
	return out
}

func orStar(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

// overlapping narrows subj to the stream's own event subjects, so that a
// consumer is made only where events can match.
func overlapping(subj string, streamSubjects []string) []string {
	var out []string
	for _, ss := range streamSubjects {
		if !strings.HasPrefix(ss, events.SubjectPrefix) || !SubjectsCollide(subj, ss) {
			continue
		}
		out = append(out, subj)
		break
	}
	return out
}

// match decides whether the message is in the result.
func (f Filter) match(kind string, seq uint64, msg *nats.Msg) (Item, bool) {
	it := Item{Stream: kind, Sequence: seq, Subject: msg.Subject, Raw: msg.Data}
	if !strings.HasPrefix(it.Subject, events.SubjectPrefix) {
		return it, false // claims and checkpoints are not events
	}
	env, ok := readEnvelope(it.Raw)
	if !ok {
		// Undecodable bytes are still part of the history: an unfiltered
		// export shows them (verify will name them).
		return it, f.Type == "" && f.Account == "" && f.Since.IsZero() && f.Until.IsZero()
	}
	it.Time, _ = parseTime(env.Time)
	if f.Type != "" && env.Type != f.Type {
		return it, false
	}
	if !f.Since.IsZero() && it.Time.Before(f.Since) {
		return it, false
	}
	if !f.Until.IsZero() && !it.Time.Before(f.Until) {
		return it, false
	}
	agg, _ := events.ParseSubject(it.Subject)
	if (f.AggregateType != "" && agg.Type != f.AggregateType) || (f.AggregateID != "" && agg.ID != f.AggregateID) {
		return it, false
	}
	if f.Account != "" {
		if !(agg.Type == events.AggregateAccount && agg.ID == f.Account) && !dataNames(env.Data, AccountField, f.Account) {
			return it, false
		}
	}
	return it, true
}

// SubjectsCollide reports whether two NATS subjects (with * and >) can
// match a common subject.
func SubjectsCollide(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		switch {
		case i == len(at) && i == len(bt):
			return true
		case i == len(at) || i == len(bt):
			return (i < len(at) && at[i] == ">") || (i < len(bt) && bt[i] == ">")
		case at[i] == ">" || bt[i] == ">":
			return true
		case at[i] == "*" || bt[i] == "*" || at[i] == bt[i]:
			continue
		default:
			return false
		}
	}
}

// knownEvent reports whether name is the short name of a catalogue event.
func knownEvent(name string) bool {
	prefix := "bindery." + name + ".v"
	for _, t := range events.Catalogue().Names() {
		if strings.HasPrefix(t, prefix) {
			return true
		}
	}
	return false
}
