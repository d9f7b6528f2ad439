package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/projections"
)

// Rebuild feeds views from the streams into fresh memory, up to positions
// the caller names, in each stream's order (as the engine does).
type Rebuild struct {
	JS       jetstream.JetStream
	Registry *events.Registry
	Views    []projections.Projection
	// Progress, when set, is called now and then with how far a stream is
	// (from two goroutines at once).
	Progress func(stream string, seq uint64)

	pos      events.Position
	applied  int
	dispatch projections.Dispatch // the views' tables, made at the first AdvanceTo
}

// Position is what the views have applied.
func (r *Rebuild) Position() events.Position { return r.pos }

// Applied counts the events applied so far.
func (r *Rebuild) Applied() int { return r.applied }

// AdvanceTo applies every event up to target. The two streams are read at
// once (as the engine does: a view guards its own state), and each is
// decoded in one goroutine and applied in another.
func (r *Rebuild) AdvanceTo(ctx context.Context, target events.Position) error {
	if r.dispatch == nil {
		r.dispatch = projections.NewDispatch(r.Views...)
	}
	kinds := []string{events.StreamHistory, events.StreamAuthLog}
	froms := []uint64{r.pos.History, r.pos.AuthLog}
	tos := []uint64{target.History, target.AuthLog}
	errs := make([]error, 2)
	counts := make([]int, 2)
	var wg sync.WaitGroup
	for i := range kinds {
		if tos[i] <= froms[i] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = r.advance(ctx, kinds[i], froms[i], tos[i])
		}()
	}
	wg.Wait()
	r.applied += counts[0] + counts[1]
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.pos = r.pos.Max(target)
	return nil
}

func (r *Rebuild) advance(ctx context.Context, kind string, from, to uint64) (int, error) {
	cur, err := openCursor(ctx, r.JS, bjs.StreamName(kind), []string{events.SubjectPrefix + ">"}, from, to)
	if err != nil {
		return 0, err
	}
	defer cur.close()
	batches := make(chan []events.Record, 8)
	var readErr error
	go func() {
		defer close(batches)
		const size = 256
		batch := make([]events.Record, 0, size)
		for {
			msg, seq, err := cur.next()
			if err != nil {
				readErr = err
				return
			}
			if msg != nil {
				if rec, err := events.DecodeRecord(r.Registry, kind, seq, msg.Subject, msg.Data); err == nil {
					batch = append(batch, rec)
				}
			}
			if len(batch) == size || (msg == nil && len(batch) > 0) {
				select {
				case batches <- batch:
				case <-ctx.Done():
					return
				}
				batch = make([]events.Record, 0, size)
			}
			if msg == nil {
				return
			}
		}
	}()
	n := 0
	for batch := range batches {
		for _, rec := range batch {
			r.dispatch.Apply(rec)
		}
		n += len(batch)
		if r.Progress != nil {
			r.Progress(kind, batch[len(batch)-1].Sequence)
		}
	}
	if readErr == nil {
		readErr = ctx.Err()
	}
	return n, readErr
}

// Head is the streams' last sequences now.
func Head(ctx context.Context, js jetstream.JetStream) (events.Position, error) {
	var p events.Position
	for _, kind := range []string{events.StreamHistory, events.StreamAuthLog} {
		st, err := js.Stream(ctx, bjs.StreamName(kind))
		if err != nil {
			return p, fmt.Errorf("audit: stream %s: %w", kind, err)
		}
		if kind == events.StreamAuthLog {
			p.AuthLog = st.CachedInfo().State.LastSeq
		} else {
			p.History = st.CachedInfo().State.LastSeq
		}
	}
	return p, nil
}

// LiveViews is how a replay reads a running server's views.
type LiveViews interface {
	// Names lists the views the server runs.
	Names(ctx context.Context) ([]string, error)
	// Snapshot returns a view's snapshot once the server has applied min,
	// with the position the snapshot reflects.
	Snapshot(ctx context.Context, name string, min events.Position) (json.RawMessage, events.Position, error)
}

// ViewDiff is one view's comparison.
type ViewDiff struct {
	Name        string   `json:"name"`
	Position    string   `json:"position,omitempty"`
	Equal       bool     `json:"equal"`
	Differences []string `json:"differences,omitempty"`
	Note        string   `json:"note,omitempty"`
}

// ReplayReport is the outcome of a replay.
type ReplayReport struct {
	OK      bool       `json:"ok"`
	Events  int        `json:"events"`
	Views   []ViewDiff `json:"views"`
	Elapsed string     `json:"elapsed,omitempty"`
}

// MaxDifferences bounds the differences listed per view.
const MaxDifferences = 20

// Replay rebuilds views (fresh ones, as projections.NewSet makes them) from
// the streams and compares each with the live server's at the same
// position: the live snapshot says which position it reflects, and the
// rebuild advances to exactly that position before comparing.
func Replay(ctx context.Context, r *Rebuild, live LiveViews) (ReplayReport, error) {
	var rep ReplayReport
	names, err := live.Names(ctx)
	if err != nil {
		return rep, err
	}
	local := map[string]projections.Projection{}
	for _, v := range r.Views {
		local[v.Name()] = v
	}
	liveSet := map[string]bool{}
	for _, n := range names {
		liveSet[n] = true
	}
	// The rebuild follows the positions the server reports (which count
	// events only, not the claims stored after them), so every min
	// position asked for is one the server has reached.
	rep.OK = true
	sort.Strings(names)
	for _, name := range names {
		v, ok := local[name]
		if !ok {
			rep.OK = false
			rep.Views = append(rep.Views, ViewDiff{Name: name, Note: "the server runs this view, but this build cannot rebuild it (not in projections.NewSet)"})
			continue
		}
		snap, pos, err := live.Snapshot(ctx, name, r.Position())
		if err != nil {
			return rep, fmt.Errorf("view %s: %w", name, err)
		}
		if !r.Position().Covers(pos) {
			if err := r.AdvanceTo(ctx, r.Position().Max(pos)); err != nil {
				return rep, err
			}
		}
		if r.Position() != pos {
			return rep, fmt.Errorf("view %s: the server answered at %s, behind the rebuild at %s", name, pos, r.Position())
		}
		mine, err := v.Snapshot()
		if err != nil {
			return rep, fmt.Errorf("view %s: rebuilt snapshot: %w", name, err)
		}
		diffs, err := Diff(snap, mine, MaxDifferences)
		if err != nil {
			return rep, fmt.Errorf("view %s: %w", name, err)
		}
		d := ViewDiff{Name: name, Position: pos.String(), Equal: len(diffs) == 0, Differences: diffs}
		rep.OK = rep.OK && d.Equal
		rep.Views = append(rep.Views, d)
	}
	for _, v := range r.Views {
		if !liveSet[v.Name()] {
			rep.Views = append(rep.Views, ViewDiff{Name: v.Name(), Equal: true, Note: "not run by the server (nothing to compare)"})
		}
	}
	rep.Events = r.Applied()
	return rep, nil
}

// Diff compares two JSON documents and lists where they differ, as
// "path: live X, replay Y", at most limit entries. Arrays whose elements
// are all objects with an "id" are compared by id, so that the order of a
// view's listing does not count.
func Diff(live, replay json.RawMessage, limit int) ([]string, error) {
	if bytes.Equal(live, replay) {
		return nil, nil
	}
	var a, b any
	if err := json.Unmarshal(live, &a); err != nil {
		return nil, fmt.Errorf("live snapshot: %w", err)
	}
	if err := json.Unmarshal(replay, &b); err != nil {
		return nil, fmt.Errorf("rebuilt snapshot: %w", err)
	}
	var out []string
	diffValue("$", a, b, &out, limit)
	return out, nil
}

func diffValue(path string, a, b any, out *[]string, limit int) {
	if len(*out) >= limit {
		return
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			x, inA := av[k]
			y, inB := bv[k]
			switch {
			case !inA:
				add(out, limit, "%s.%s: live has none, replay %s", path, k, short(y))
			case !inB:
				add(out, limit, "%s.%s: live %s, replay has none", path, k, short(x))
			default:
				diffValue(path+"."+k, x, y, out, limit)
			}
		}
		return
	case []any:
		bv, ok := b.([]any)
		if !ok {
			break
		}
		if ai, ok := byID(av); ok {
			if bi, ok := byID(bv); ok {
				ids := map[string]bool{}
				for id := range ai {
					ids[id] = true
				}
				for id := range bi {
					ids[id] = true
				}
				sorted := make([]string, 0, len(ids))
				for id := range ids {
					sorted = append(sorted, id)
				}
				sort.Strings(sorted)
				for _, id := range sorted {
					x, inA := ai[id]
					y, inB := bi[id]
					p := path + "[id=" + id + "]"
					switch {
					case !inA:
						add(out, limit, "%s: only in the replay", p)
					case !inB:
						add(out, limit, "%s: only in the live view", p)
					default:
						diffValue(p, x, y, out, limit)
					}
				}
				return
			}
		}
		n := max(len(av), len(bv))
		for i := 0; i < n; i++ {
			p := path + "[" + strconv.Itoa(i) + "]"
			switch {
			case i >= len(av):
				add(out, limit, "%s: live has none, replay %s", p, short(bv[i]))
			case i >= len(bv):
				add(out, limit, "%s: live %s, replay has none", p, short(av[i]))
			default:
				diffValue(p, av[i], bv[i], out, limit)
			}
		}
		return
	default:
		x, _ := json.Marshal(a)
		y, _ := json.Marshal(b)
		if bytes.Equal(x, y) {
			return
		}
	}
	add(out, limit, "%s: live %s, replay %s", path, short(a), short(b))
}

func byID(list []any) (map[string]any, bool) {
	if len(list) == 0 {
		return nil, false
	}
	m := make(map[string]any, len(list))
	for _, e := range list {
		o, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		id, ok := o["id"].(string)
		if !ok {
			return nil, false
		}
		if _, dup := m[id]; dup {
			return nil, false
		}
		m[id] = o
	}
	return m, true
}

func add(out *[]string, limit int, format string, args ...any) {
	if len(*out) < limit {
		*out = append(*out, fmt.Sprintf(format, args...))
	}
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 120 {
		return string(b[:117]) + "..."
	}
	return string(b)
}
