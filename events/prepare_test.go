package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bindery/bindery/events"
)

type stray struct{}

func (stray) EventName() string { return "stray" }

// strayTwin has the name of a catalogue event but another Go type.
type strayTwin struct{}

func (strayTwin) EventName() string { return "account_disabled" }

// Every catalogue type prepares; a type missing from the registry, or a
// different type under a registered name, fails at once and names itself.
func TestPrepareRefusesUnregisteredTypes(t *testing.T) {
	reg := events.Catalogue()
	agg := events.Aggregate{Type: events.AggregateAccount, ID: "a1"}
	p, err := events.Prepare(context.Background(), reg, events.Meta{}, []events.Change{{Aggregate: agg, Events: []events.Event{events.AccountDisabled{AccountID: "a1"}}}})
	if err != nil || len(p.Records) != 1 || p.Records[0].Envelope.Time.IsZero() {
		t.Fatalf("catalogue event: %v %+v", err, p)
	}
	for _, e := range []events.Event{stray{}, strayTwin{}} {
		_, err := events.Prepare(context.Background(), reg, events.Meta{}, []events.Change{{Aggregate: agg, Events: []events.Event{events.AccountDisabled{AccountID: "a1"}, e}}})
		if !errors.Is(err, events.ErrUnregistered) || !strings.Contains(err.Error(), events.TypeName(e)) || !strings.Contains(err.Error(), "account/a1") {
			t.Fatalf("%T: %v", e, err)
		}
	}
	if _, err := events.Prepare(context.Background(), nil, events.Meta{}, []events.Change{{Aggregate: agg, Events: []events.Event{events.AccountDisabled{}}}}); !errors.Is(err, events.ErrUnregistered) {
		t.Fatalf("nil registry: %v", err)
	}
	if _, err := events.Prepare(context.Background(), reg, events.Meta{}, []events.Change{
		{Aggregate: agg, Events: []events.Event{events.AccountDisabled{}}},
		{Aggregate: events.Aggregate{Type: events.AggregateSession, ID: "s"}, Events: []events.Event{events.SessionRevoked{}}},
	}); !errors.Is(err, events.ErrTwoStreams) {
		t.Fatalf("two streams: %v", err)
	}
}

type rename struct{ To, From string }

func (rename) EventName() string { return "rename" }

func (e rename) UniqueConstraints() []events.Constraint {
	return []events.Constraint{{Kind: "username", Value: e.To, Owner: "o"}, {Kind: "username", Value: e.From, Owner: "o", Release: true}}
}

// One word per value: a claim wins over a release of the same value, the
// first claim over later ones, in the order of the words kept; each names
// the first event that spoke of the value.
func TestPrepareClaims(t *testing.T) {
	reg := events.NewRegistry(rename{})
	agg := events.Aggregate{Type: events.AggregateAccount, ID: "a1"}
	p, err := events.Prepare(context.Background(), reg, events.Meta{}, []events.Change{{Aggregate: agg, Events: []events.Event{
		rename{To: "new", From: "old"}, rename{To: "old", From: "new"}, rename{To: "third", From: "gone"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.Claims {
		got = append(got, c.Value+map[bool]string{true: "-", false: "+"}[c.Release])
		want := p.Records[0].Envelope.ID
		if c.Value == "third" || c.Value == "gone" {
			want = p.Records[2].Envelope.ID
		}
		if c.Event != want {
			t.Fatalf("claim %v names event %s, want %s", c, c.Event, want)
		}
	}
	if strings.Join(got, " ") != "new+ old+ third+ gone-" {
		t.Fatalf("claims %v", got)
	}
	if len(p.Checks) != 1 || p.Checks[0].At != 0 || p.Records[1].Envelope.PrevHash != p.Records[0].Hash() {
		t.Fatalf("checks %+v", p.Checks)
	}
}
