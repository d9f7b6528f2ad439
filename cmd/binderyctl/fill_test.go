package main

// A Publisher fills the event streams fast for the audit tests and
// benchmarks: it encodes events exactly as the store does (envelope,
// prevhash chain per aggregate) and publishes them asynchronously, without
// the store's per-append round trip. The events are synthetic history (the
// inert mix updates accounts that do not exist), written as payloads rather
// than decided by the domain.

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
)

// Mix chooses the events Publish writes.
type Mix int

const (
	// Mixed is a spread of what a live system stores: accounts created,
	// updated, disabled and enabled; roles defined, granted and revoked;
	// orgs and memberships; apps; logins and sessions in the auth log.
	// Every view has work to do.
	Mixed Mix = iota
	// Inert is account updates of accounts that do not exist and failed
	// logins: full-size events that no view keeps, so the server's memory
	// stays flat while millions are stored.
	Inert
)

// Publisher writes chained events.
type Publisher struct {
	JS    jetstream.JetStream
	Clock time.Time
	last  map[events.Aggregate]string
	n     int
}

// NewPublisher starts at a fixed clock.
func NewPublisher(js jetstream.JetStream) *Publisher {
	return &Publisher{JS: js, Clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), last: map[events.Aggregate]string{}}
}

// inflight bounds the unacknowledged publishes (below the client's own
// limit, past which it stalls).
const inflight = 1000

// Publish appends about n events of the mix and waits for every ack.
func (p *Publisher) Publish(ctx context.Context, n int, mix Mix) error {
	var futures []jetstream.PubAckFuture
	wait := func() error {
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		futures = futures[:0]
		return nil
	}
	emit := func(agg events.Aggregate, e events.Event) error {
		p.Clock = p.Clock.Add(time.Millisecond)
		env, raw, err := events.Encode(agg, e, events.Meta{Actor: "system", Time: p.Clock}, p.last[agg])
		if err != nil {
			return err
		}
		p.last[agg] = events.HashBytes(raw)
		m := nats.NewMsg(agg.Subject(e))
		m.Data = raw
		m.Header.Set(jetstream.MsgIDHeader, env.ID)
		f, err := p.JS.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		futures = append(futures, f)
		p.n++
		if len(futures) >= inflight {
			return wait()
		}
		return nil
	}
	start := p.n
	for i := 0; p.n-start < n; i++ {
		var err error
		if mix == Inert {
			err = p.inert(i, emit)
		} else {
			err = p.mixed(i, emit)
		}
		if err != nil {
			return err
		}
	}
	return wait()
}

// Count is how many events were published.
func (p *Publisher) Count() int { return p.n }

func (p *Publisher) inert(i int, emit func(events.Aggregate, events.Event) error) error {
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i%1000)
	name := fmt.Sprintf("Nobody %d", i)
	if err := emit(events.Aggregate{Type: events.AggregateAccount, ID: id}, events.AccountUpdated{AccountID: id, DisplayName: &name, Source: "bench"}); err != nil {
		return err
	}
	login := uuid.NewString()
	return emit(events.Aggregate{Type: events.AggregateLogin, ID: login}, events.LoginFailed{App: "demo", AccountID: id, Method: "code", Reason: "invalid_code"})
}

type step struct {
	agg events.Aggregate
	e   events.Event
}

func (p *Publisher) mixed(i int, emit func(events.Aggregate, events.Event) error) error {
	id := uuid.NewString()
	acc := events.Aggregate{Type: events.AggregateAccount, ID: id}
	role := fmt.Sprintf("role%d", i%50)
	org := fmt.Sprintf("org%d", i%20)
	name := fmt.Sprintf("Renamed %d", i)
	steps := []step{
		{acc, events.AccountCreated{AccountID: id, Username: fmt.Sprintf("user%d", p.n), DisplayName: fmt.Sprintf("User %d", i), Phone: fmt.Sprintf("+86138%08d", i), Source: "admin"}},
		{acc, events.AccountUpdated{AccountID: id, DisplayName: &name, Source: "admin"}},
		{acc, events.RoleGranted{AccountID: id, Role: role}},
		{events.Aggregate{Type: events.AggregateOrg, ID: org}, events.OrgMemberAdded{OrgID: org, AccountID: id}},
	}
	if i < 50 {
		steps = append([]step{{events.Aggregate{Type: events.AggregateRole, ID: role}, events.RoleDefined{Role: role, Permissions: []string{"report:read"}}}}, steps...)
	}
	if i < 20 {
		steps = append(steps, step{events.Aggregate{Type: events.AggregateOrg, ID: org}, events.OrgDefined{OrgID: org, Name: "Org " + org}})
	}
	if i%10 == 0 {
		app := fmt.Sprintf("app%d", i)
		steps = append(steps, step{events.Aggregate{Type: events.AggregateApp, ID: app}, events.AppRegistered{AppID: app, AppSettings: events.AppSettings{Name: app, Kind: events.AppKindHost, MatchRules: []string{"external_id"}, OnNoMatch: "bind", AccountSource: events.AppAccountSource{Mode: "local"}}}})
	}
	if i%7 == 0 {
		steps = append(steps, step{acc, events.AccountDisabled{AccountID: id, Reason: "test"}})
	}
	if i%14 == 0 {
		steps = append(steps, step{acc, events.RoleRevoked{AccountID: id, Role: role}})
	}
	sid := uuid.NewString()
	steps = append(steps,
		step{events.Aggregate{Type: events.AggregateLogin, ID: uuid.NewString()}, events.LoginSucceeded{App: "demo", AccountID: id, Method: "code", SessionID: sid}},
		step{events.Aggregate{Type: events.AggregateSession, ID: sid}, events.SessionIssued{SessionID: sid, AccountID: id, App: "demo", TokenHash: "ab", AuthTime: p.Clock, ExpiresAt: p.Clock.Add(time.Hour)}},
	)
	for _, s := range steps {
		if err := emit(s.agg, s.e); err != nil {
			return err
		}
	}
	return nil
}
