package projections

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/bindery/bindery/events"
)

// Reducer folds one event type into a view. A view declares all of its
// reducers in one table (its Reducers method); the engine, the audit
// replay and the view's own Apply dispatch through that table only, so an
// event type a view handles is named in exactly one place.
type Reducer struct {
	Event  events.Event        // a value of the type reduced (its zero value will do)
	Reduce func(events.Record) // called with records whose Event has that type
}

// Type is the CloudEvents type the reducer handles (bindery.<name>.v<n>).
func (r Reducer) Type() string { return events.TypeName(r.Event) }

// On makes the reducer of events of type E.
func On[E events.Event](reduce func(E, events.Record)) Reducer {
	var zero E
	return Reducer{Event: zero, Reduce: func(r events.Record) { reduce(r.Event.(E), r) }}
}

// guarded holds mu around every reducer of a table: a view's state is
// written only under its own lock (the history and auth-log streams apply
// from two goroutines).
func guarded(mu sync.Locker, rs ...Reducer) []Reducer {
	for i, r := range rs {
		reduce := r.Reduce
		rs[i].Reduce = func(rec events.Record) {
			mu.Lock()
			defer mu.Unlock()
			reduce(rec)
		}
	}
	return rs
}

// Dispatch is the reducer tables of a list of views merged by event type:
// for each type, its reducers in the views' order.
type Dispatch map[reflect.Type][]func(events.Record)

// NewDispatch merges the views' tables. A view declaring two reducers for
// one type is a programming error and panics.
func NewDispatch(views ...Projection) Dispatch {
	d := Dispatch{}
	for _, v := range views {
		seen := map[reflect.Type]bool{}
		for _, r := range v.Reducers() {
			t := reflect.TypeOf(r.Event)
			if seen[t] {
				panic(fmt.Sprintf("projections: view %s declares two reducers for %s", v.Name(), r.Type()))
			}
			seen[t] = true
			d[t] = append(d[t], r.Reduce)
		}
	}
	return d
}

// Apply hands the record to every reducer of its event type.
func (d Dispatch) Apply(r events.Record) {
	for _, reduce := range d[reflect.TypeOf(r.Event)] {
		reduce(r)
	}
}

// Handles lists the CloudEvents types the views reduce.
func Handles(views ...Projection) []string {
	var out []string
	for _, v := range views {
		for _, r := range v.Reducers() {
			out = append(out, r.Type())
		}
	}
	return out
}
