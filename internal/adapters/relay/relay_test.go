package relay_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/relay"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/devtools/testenv"
	"github.com/bindery/bindery/projections"
)

// copyOf is one message of BINDERY_PUBLIC.
type copyOf struct {
	Seq     uint64
	Subject string
	MsgID   string
	Data    string
}

// publicCopies reads every message BINDERY_PUBLIC holds now.
func publicCopies(t *testing.T, env *testenv.Env) []copyOf {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := env.App.Store.JetStream()
	st, err := js.Stream(ctx, relay.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []copyOf
	if info.State.Msgs == 0 {
		return nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, copyOf{Seq: seq, Subject: m.Subject, MsgID: m.Header.Get(jetstream.MsgIDHeader), Data: string(m.Data)})
	}
	return out
}

// person is an account with the traces a person leaves: a profile, a
// session, an org membership.
type person struct {
	id, name, phone, session string
}

func newPerson(t *testing.T, env *testenv.Env, name, phone, org string) person {
	t.Helper()
	r := env.Admin("POST", "/v1/accounts", map[string]any{"username": strings.ToLower(name), "display_name": name, "phone": phone})
	if r.Status != http.StatusCreated {
		t.Fatalf("create account: %d %s", r.Status, r.Body)
	}
	p := person{id: r.Map(t)["id"].(string), name: name, phone: phone}
	if r := env.Admin("POST", "/v1/orgs/"+org+"/members", map[string]any{"account_id": p.id}); r.Status >= 300 {
		t.Fatalf("add member: %d %s", r.Status, r.Body)
	}
	var acc projections.Account
	testenv.Eventually(t, 5*time.Second, func() bool {
		var ok bool
		acc, ok = env.App.Accounts.Get(p.id)
		return ok
	})
	change, _, err := env.App.Sessions.Start(sessions.ClaimsFor(acc), "shop", []string{"test"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.App.Store.Append(context.Background(), events.Meta{Actor: p.id, Time: time.Now()}, change); err != nil {
		t.Fatal(err)
	}
	p.session = change.Aggregate.ID
	return p
}

// traces are the copies that concern p: of its account, of its session,
// or naming it.
func traces(copies []copyOf, p person) []copyOf {
	var out []copyOf
	for _, c := range copies {
		if strings.Contains(c.Subject, p.id) || strings.Contains(c.Subject, p.session) || strings.Contains(c.Data, p.id) ||
			strings.Contains(c.Data, p.name) || strings.Contains(c.Data, p.phone) {
			out = append(out, c)
		}
	}
	return out
}

func hasCopy(copies []copyOf, subject string, contains ...string) bool {
	for _, c := range copies {
		if c.Subject != subject {
			continue
		}
		ok := true
		for _, s := range contains {
			ok = ok && strings.Contains(c.Data, s)
		}
		if ok {
			return true
		}
	}
	return false
}

// waitRelayed waits until p's account, session and membership have their
// opened copies.
func waitRelayed(t *testing.T, env *testenv.Env, p person) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, func() bool {
		cs := publicCopies(t, env)
		return hasCopy(cs, "bindery.public.account."+p.id+".account_created", `"display_name":"`+p.name+`"`, p.phone) &&
			hasCopy(cs, "bindery.public.session."+p.session+".session_issued", p.id) &&
			hasCopy(cs, "bindery.public.org.acme.org_member_added", p.id)
	})
}

// relayOn turns the relay on (it is off by default).
var relayOn = map[string]string{"BINDERY_PUBLIC_RELAY": "on"}

func startWithOrg(t *testing.T, dir string) *testenv.Env {
	t.Helper()
	env := testenv.Start(t, dir, relayOn)
	if r := env.Admin("PUT", "/v1/orgs/acme", map[string]any{"name": "Acme"}); r.Status >= 300 {
		t.Fatalf("org: %d %s", r.Status, r.Body)
	}
	return env
}

// The relay copies every event opened, on bindery.public.<aggregate>.<id>.<event>,
// each once: a restart (the consumer resumes where it acknowledged) adds no
// duplicate, and events appended while it was down arrive after it.
func TestRelayCopiesOpenedEventsOnce(t *testing.T) {
	dir := t.TempDir()
	env := startWithOrg(t, dir)
	ann := newPerson(t, env, "Ann", "+8613900000101", "acme")
	waitRelayed(t, env, ann)

	// Sealed in the history, opened in the copy.
	ctx := context.Background()
	st, err := env.App.Store.JetStream().Stream(ctx, "BINDERY_HISTORY")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.GetLastMsgForSubject(ctx, "bindery.events.account."+ann.id+".account_created")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored.Data), ann.phone) || !strings.Contains(string(stored.Data), events.SealedMember) {
		t.Fatalf("the history holds the phone in plaintext: %s", stored.Data)
	}

	env.Close()
	env = testenv.Start(t, dir, relayOn)
	bob := newPerson(t, env, "Bob", "+8613900000102", "acme")
	waitRelayed(t, env, bob)

	seen := map[string]int{}
	for _, c := range publicCopies(t, env) {
		if !strings.HasPrefix(c.Subject, relay.SubjectPrefix) || c.MsgID == "" {
			t.Fatalf("copy %d: subject %s, msg id %q", c.Seq, c.Subject, c.MsgID)
		}
		seen[c.MsgID]++
		if seen[c.MsgID] > 1 {
			t.Fatalf("event %s copied twice (%s)", c.MsgID, c.Subject)
		}
	}
	if !hasCopy(publicCopies(t, env), "bindery.public.account."+ann.id+".account_created", ann.phone) {
		t.Fatal("Ann's copy is gone after the restart")
	}
}

// Purge removes every copy that concerns the account — its own events,
// its session's, its membership in a shared org — and nothing of anyone
// else's.
func TestPurgeRemovesTheAccountsCopies(t *testing.T) {
	env := startWithOrg(t, "")
	ann := newPerson(t, env, "Ann", "+8613900000201", "acme")
	bob := newPerson(t, env, "Bob", "+8613900000202", "acme")
	waitRelayed(t, env, ann)
	waitRelayed(t, env, bob)
	bobBefore := len(traces(publicCopies(t, env), bob))

	if err := env.App.Relay.Purge(context.Background(), ann.id, 0); err != nil {
		t.Fatal(err)
	}
	after := publicCopies(t, env)
	if left := traces(after, ann); len(left) > 0 {
		t.Fatalf("Ann's copies left after the purge: %+v", left)
	}
	if n := len(traces(after, bob)); n != bobBefore || n < 3 {
		t.Fatalf("Bob's copies: %d before, %d after", bobBefore, n)
	}
	if !hasCopy(after, "bindery.public.org.acme.org_defined") {
		t.Fatal("the org's own event was purged with the membership")
	}
	// Repeating it is harmless.
	if err := env.App.Relay.Purge(context.Background(), ann.id, 0); err != nil {
		t.Fatal(err)
	}
}

// An account_erased appended through the real store makes the relay purge
// the account's copies and publish the account_erased itself, which is
// then all of the account that bindery.public holds; what the person does
// afterwards (a late session event) is not copied any more.
func TestAccountErasedPurgesTheAccount(t *testing.T) {
	env := startWithOrg(t, "")
	ann := newPerson(t, env, "Ann", "+8613900000301", "acme")
	bob := newPerson(t, env, "Bob", "+8613900000302", "acme")
	waitRelayed(t, env, ann)
	waitRelayed(t, env, bob)

	ctx := context.Background()
	if _, _, err := env.App.API.Accounts.Repo.Update(ctx, ann.id, events.Meta{Actor: "admin:test", Time: time.Now()},
		func(a *account.Account) (events.Decision, error) {
			evs, err := a.Erase("admin")
			return events.Decision{Events: evs}, err
		}); err != nil {
		t.Fatal(err)
	}
	erased := "bindery.public.account." + ann.id + "." + events.AccountErasedName
	testenv.Eventually(t, 15*time.Second, func() bool { return hasCopy(publicCopies(t, env), erased) })
	if left := traces(publicCopies(t, env), ann); len(left) != 1 || left[0].Subject != erased {
		t.Fatalf("Ann's copies after account_erased: %+v", left)
	}

	// A late event of Ann's (her session revoked) is not copied, while
	// Bob's next one is.
	bob2 := newPerson(t, env, "Bea", "+8613900000303", "acme")
	annSession := events.SessionRevoked{SessionID: "late-" + ann.id[:8], AccountID: ann.id, Reason: "admin"}
	if _, err := env.App.Store.Append(ctx, events.Meta{Actor: "system", Time: time.Now()},
		events.Change{Aggregate: events.Aggregate{Type: events.AggregateSession, ID: "late-" + ann.id[:8]}, Events: []events.Event{annSession}}); err != nil {
		t.Fatal(err)
	}
	waitRelayed(t, env, bob2)
	if left := traces(publicCopies(t, env), ann); len(left) != 1 {
		t.Fatalf("a late event of the erased account was copied: %+v", left)
	}
}
