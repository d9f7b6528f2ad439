// Package events holds Bindery's event payloads, their versioned names, the
// CloudEvents envelope they travel in, and the Store interface that appends and
// reads them. The JetStream implementation lives in events/jetstream.
package events

import (
	"fmt"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"

	fastjson "github.com/goccy/go-json"
)

// Event is the payload of one fact. EventName is the short name used in the
// subject (identity_bound); the CloudEvents type is "bindery.<name>.v<version>".
type Event interface {
	EventName() string
}

// Versioned is implemented by events whose payload has moved past version 1.
type Versioned interface {
	EventVersion() int
}

// Aggregate names the stream of facts that one decision is made on.
type Aggregate struct {
	Type string // one of the Aggregate* constants (aggregates.go)
	ID   string
}

func (a Aggregate) String() string { return a.Type + "/" + a.ID }

// Subject is the NATS subject of an event of this aggregate.
func (a Aggregate) Subject(e Event) string {
	return SubjectPrefix + a.Type + "." + a.ID + "." + e.EventName()
}

// Filter is the wildcard subject covering every event of the aggregate.
func (a Aggregate) Filter() string {
	return SubjectPrefix + a.Type + "." + a.ID + ".*"
}

// SubjectPrefix starts every public event subject.
const SubjectPrefix = "bindery.events."

// Stream kinds: the durable history and the authentication log (with retention).
const (
	StreamHistory = "history"
	StreamAuthLog = "authlog"
)

// authLogTypes are the aggregate types whose events live in the auth log.
var authLogTypes = map[string]bool{
	AggregateLogin: true, AggregateSession: true, AggregateTicket: true, AggregateQR: true, AggregateOTP: true, AggregateAuthorization: true, AggregateBrowserSession: true,
}

// StreamOf says which stream an aggregate type belongs to.
func StreamOf(aggregateType string) string {
	if authLogTypes[aggregateType] {
		return StreamAuthLog
	}
	return StreamHistory
}

// AuthLogTypes lists the aggregate types of the auth log, sorted.
func AuthLogTypes() []string {
	out := make([]string, 0, len(authLogTypes))
	for t := range authLogTypes {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// TypeName is the CloudEvents type of an event: bindery.<name>.v<version>.
func TypeName(e Event) string {
	v := 1
	if ve, ok := e.(Versioned); ok {
		v = ve.EventVersion()
	}
	return fmt.Sprintf("bindery.%s.v%d", e.EventName(), v)
}

// Registry maps CloudEvents type names to payload types. Names are explicit
// and versioned, never reflected from Go type names, so a rename cannot orphan
// history; old versions stay registered forever.
type Registry struct {
	mu     sync.RWMutex
	types  map[string]reflect.Type
	names  map[string]string         // each registered name, to hand out without allocating
	sealer atomic.Pointer[sealerBox] // sealed.go
}

// NewRegistry returns a registry holding the given prototypes.
func NewRegistry(protos ...Event) *Registry {
	r := &Registry{types: map[string]reflect.Type{}, names: map[string]string{}}
	for _, p := range protos {
		r.Register(p)
	}
	return r
}

// Register adds a payload type under its versioned name. Registering two
// different types under one name is a programming error and panics.
func (r *Registry) Register(proto Event) {
	t := reflect.TypeOf(proto)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := TypeName(proto)
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.types[name]; ok && old != t {
		panic("events: " + name + " registered twice with different types")
	}
	r.types[name] = t
	r.names[name] = name
}

// typeName is b as a string: a registered name without allocating (type
// names repeat on every event read), anything else copied.
func (r *Registry) typeName(b []byte) string {
	r.mu.RLock()
	name, ok := r.names[string(b)]
	r.mu.RUnlock()
	if ok {
		return name
	}
	return string(b)
}

// Decode turns data of the named type into its payload value.
func (r *Registry) Decode(typeName string, data []byte) (Event, error) {
	r.mu.RLock()
	t, ok := r.types[typeName]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("events: unknown type %q", typeName)
	}
	if IsSealed(data) {
		opened, _, err := OpenData(r.Sealer(), data, erasedNull)
		if err != nil {
			return nil, fmt.Errorf("events: open %s: %w", typeName, err)
		}
		data = opened
	}
	v := reflect.New(t)
	if err := fastjson.Unmarshal(data, v.Interface()); err != nil {
		return nil, fmt.Errorf("events: decode %s: %w", typeName, err)
	}
	return v.Elem().Interface().(Event), nil
}

// Names lists every registered type name, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.types))
	for n := range r.types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Constraint is a uniqueness claim an event adds or releases: one value of a
// kind (username, phone, email, external_id, openid, unionid, host_uid)
// belongs to at most one owner. The store writes it atomically with the event.
type Constraint struct {
	Kind    string
	Value   string
	Owner   string
	Release bool
}

// Constrainer is implemented by events that add or release unique values.
type Constrainer interface {
	UniqueConstraints() []Constraint
}
