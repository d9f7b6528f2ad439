package events

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// Prepared is one Append encoded, before any store has seen it: what every
// Store writes, in the same order, whatever its medium.
type Prepared struct {
	// Stream is the stream every event of the append belongs to.
	Stream string
	// Records are the events to store, in order, Sequence unset: the
	// envelopes, with each change's events chained by prevhash from the
	// change's PrevHash.
	Records []Record
	// Checks are the expected sequences, one per change with events.
	Checks []Check
	// Claims are the uniqueness claims and releases, one per value.
	Claims []Claim
}

// Check is one change's optimistic-concurrency condition: the aggregate's
// last sequence must be Expected when Records[At] (its first event) is stored.
type Check struct {
	At        int
	Aggregate Aggregate
	Expected  uint64
}

// Claim is one value an append claims or releases, with the id of the first
// event that does so.
type Claim struct {
	Constraint
	Event string
}

// Against decides the claim given the value's current owner ("" = nobody):
// write says whether the store writes a new state, owner is that state's
// holder ("" = released). Releasing a value held by someone else, or not
// held, and claiming a value held already, write nothing; claiming a value
// someone else holds is a *ClaimTakenError.
func (c Claim) Against(current string) (write bool, owner string, err error) {
	switch {
	case c.Release && current != c.Owner:
		return false, "", nil
	case c.Release:
		return true, "", nil
	case current == c.Owner:
		return false, "", nil
	case current != "":
		return false, "", &ClaimTakenError{Kind: c.Kind, Owner: current}
	}
	return true, c.Owner, nil
}

// ErrUnregistered reports an event type missing from the store's registry:
// it would be stored but never decoded, so every Apply would skip it.
var ErrUnregistered = errors.New("events: event type is not in the registry (add it to Catalogue)")

// ErrTwoStreams reports an append whose aggregates live in different streams.
var ErrTwoStreams = errors.New("events: one append spans two streams")

// Prepare encodes an append for a store whose registry is reg. It fails,
// before anything is stored, when an event's type is not in reg or when the
// changes span two streams. A zero meta.Time is now.
func Prepare(ctx context.Context, reg *Registry, meta Meta, changes []Change) (Prepared, error) {
	var p Prepared
	if len(changes) == 0 {
		return p, nil
	}
	if meta.Time.IsZero() {
		meta.Time = time.Now()
	}
	p.Stream = StreamOf(changes[0].Aggregate.Type)
	var constraints []Constraint
	firstID := map[string]string{}
	sealer := reg.Sealer()
	if err := prepareKeys(ctx, sealer, changes); err != nil {
		return Prepared{}, err
	}
	for _, ch := range changes {
		if StreamOf(ch.Aggregate.Type) != p.Stream {
			return Prepared{}, ErrTwoStreams
		}
		prev := ch.PrevHash
		for i, e := range ch.Events {
			if err := reg.Known(e); err != nil {
				return Prepared{}, fmt.Errorf("append to %s: %w", ch.Aggregate, err)
			}
			env, raw, err := EncodeSealed(sealer, ch.Aggregate, e, meta, prev)
			if err != nil {
				return Prepared{}, err
			}
			prev = HashBytes(raw)
			if i == 0 {
				p.Checks = append(p.Checks, Check{At: len(p.Records), Aggregate: ch.Aggregate, Expected: ch.Expected})
			}
			p.Records = append(p.Records, Record{Stream: p.Stream, Subject: ch.Aggregate.Subject(e), Envelope: env, Event: e, Raw: raw})
			if c, ok := e.(Constrainer); ok {
				for _, k := range c.UniqueConstraints() {
					constraints = append(constraints, k)
					if _, seen := firstID[k.Kind+"\x00"+k.Value]; !seen {
						firstID[k.Kind+"\x00"+k.Value] = env.ID
					}
				}
			}
		}
	}
	p.Claims = oneWordPerValue(constraints, firstID)
	return p, nil
}

// oneWordPerValue keeps one word per value, in the order of the word kept: claiming
// wins over releasing the same value (a rename to the value held already is
// a no-op), and the first claim of a value wins over later ones.
func oneWordPerValue(cs []Constraint, eventIDs map[string]string) []Claim {
	if len(cs) == 0 {
		return nil
	}
	final := map[string]int{}
	for i, c := range cs {
		k := c.Kind + "\x00" + c.Value
		if prev, ok := final[k]; ok && !cs[prev].Release {
			continue
		}
		final[k] = i
	}
	keep := make([]bool, len(cs))
	for _, i := range final {
		keep[i] = true
	}
	out := make([]Claim, 0, len(final))
	for i, c := range cs {
		if keep[i] {
			out = append(out, Claim{Constraint: c, Event: eventIDs[c.Kind+"\x00"+c.Value]})
		}
	}
	return out
}

// Known reports, as an ErrUnregistered error, an event whose type the
// registry does not hold under its name (a nil registry holds nothing).
func (r *Registry) Known(e Event) error {
	t := reflect.TypeOf(e)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := TypeName(e)
	var have reflect.Type
	if r != nil {
		r.mu.RLock()
		have = r.types[name]
		r.mu.RUnlock()
	}
	if have != t {
		return fmt.Errorf("%w: %s (%v)", ErrUnregistered, name, t)
	}
	return nil
}

// prepareKeys makes sure the data keys the changes seal under exist, all at
// once (a bulk append creates hundreds of accounts).
func prepareKeys(ctx context.Context, s Sealer, changes []Change) error {
	if s == nil {
		return nil
	}
	var owners []string
	seen := map[string]bool{}
	for _, ch := range changes {
		owner := KeyOwner(ch.Aggregate)
		if seen[owner] {
			continue
		}
		for _, e := range ch.Events {
			if personalPaths(e) != nil {
				seen[owner] = true
				owners = append(owners, owner)
				break
			}
		}
	}
	if len(owners) == 0 {
		return nil
	}
	if err := s.Prepare(ctx, owners); err != nil {
		return fmt.Errorf("events: data keys: %w", err)
	}
	return nil
}
