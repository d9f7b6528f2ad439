package login_test

import (
	"context"
	"testing"
	"time"

	"github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/app/accounts"
	applogin "github.com/bindery/bindery/internal/app/login"
	"github.com/bindery/bindery/internal/app/sessions"
)

// waitingStore makes the claim lookup wait until the account is being
// read, when armed: a login that reads them one after the other never
// gets there (and the lookup gives up after its deadline).
type waitingStore struct {
	events.Store
	armed       bool
	accountRead chan struct{}
	overlapped  bool
}

func (s *waitingStore) Load(ctx context.Context, agg events.Aggregate, after uint64) ([]events.Record, error) {
	if agg.Type == events.AggregateAccount && s.armed {
		select {
		case s.accountRead <- struct{}{}:
		default:
		}
	}
	return s.Store.Load(ctx, agg, after)
}

func (s *waitingStore) Owner(ctx context.Context, kind, value string) (string, error) {
	if s.armed {
		select {
		case <-s.accountRead:
			s.overlapped = true
		case <-time.After(5 * time.Second):
		}
	}
	return s.Store.Owner(ctx, kind, value)
}

// A returning user's second login reads the claim and the account (its
// freshness check) at the same time: one wait for the store, not two.
func TestReturningLoginReadsClaimAndAccountTogether(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.givenAccount("acc-a", "shop", "o1")
	ws := &waitingStore{Store: f.store, accountRead: make(chan struct{}, 1)}
	ss := sessions.New(ws, f.sessions.Signer, f.view)
	h := applogin.NewCodeHandler(applogin.Deps{Store: ws, Apps: f.apps, Accounts: accounts.New(ws, f.accounts.Box), View: f.view, Sessions: ss, WeChat: f.wechat, Now: f.clock})
	for i, code := range []string{"first", "second"} {
		ws.armed = i == 1
		f.wechat.sessions[code] = wechat.Session{OpenID: "o1"}
		out, _, err := h.Handle(f.ctx, events.Meta{}, applogin.CodeLogin{App: "shop", Code: code})
		if err != nil || out.Status != "OK" {
			t.Fatalf("login %d: %+v %v", i, out, err)
		}
	}
	if !ws.overlapped {
		t.Fatal("the second login read the account only after the claim")
	}
}

// The owner a login remembers is only a guess: an identity moved to
// another account meanwhile (on any replica) logs in to that one, and a
// disable of the new owner refuses it.
func TestLoginFollowsAMovedIdentity(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.givenAccount("acc-a", "shop", "o1")
	f.givenAccount("acc-b", "shop", "")
	f.wechat.sessions["c1"] = wechat.Session{OpenID: "o1"}
	if out, err := f.codeLogin("shop", "c1"); err != nil || out.Status != "OK" {
		t.Fatalf("first login: %+v %v", out, err)
	}
	id := events.NewBoundIdentity(events.BindingOpenID, "shop", "o1")
	f.given(events.AggregateAccount, "acc-a", events.IdentityUnbound{AccountID: "acc-a", BoundIdentity: id})
	f.given(events.AggregateAccount, "acc-b", events.IdentityBound{AccountID: "acc-b", BoundIdentity: id, Method: "admin"})
	f.wechat.sessions["c2"] = wechat.Session{OpenID: "o1"}
	out, err := f.codeLogin("shop", "c2")
	if err != nil || out.Status != "OK" {
		t.Fatalf("second login: %+v %v", out, err)
	}
	f.then(
		events.LoginSucceeded{App: "shop", AccountID: "acc-b", Method: "code", Rule: "openid", SessionID: "*"},
		f.session("acc-b", "shop", "wechat"),
	)
	f.given(events.AggregateAccount, "acc-b", events.AccountDisabled{AccountID: "acc-b"})
	f.wechat.sessions["c3"] = wechat.Session{OpenID: "o1"}
	_, err = f.codeLogin("shop", "c3")
	f.thenError(err, "account_disabled",
		events.LoginFailed{App: "shop", AccountID: "acc-b", Method: "code", Reason: "account_disabled"})
}

// pipeliningStore appends groups as the JetStream store pipelines them:
// each on its own, a failed one not stopping the next.
type pipeliningStore struct{ events.Store }

func (s pipeliningStore) AppendPipelined(ctx context.Context, meta events.Meta, groups ...[]events.Change) ([][]events.Record, []error) {
	out, errs := make([][]events.Record, len(groups)), make([]error, len(groups))
	for i, g := range groups {
		out[i], errs[i] = s.Append(ctx, meta, g...)
	}
	return out, errs
}

// With pipelined appends, the session is stored beside an attempt that a
// concurrent login won: the login is code_used and its session is revoked
// at once (its token was never handed out).
func TestPipelinedLoginLosingItsCodeRevokesItsSession(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.givenAccount("acc-a", "shop", "o1")
	f.wechat.sessions["c1"] = wechat.Session{OpenID: "o1"}
	attempt := login.AttemptID("shop", "code", "c1")
	rival := events.LoginSucceeded{App: "shop", AccountID: "acc-a", Method: "code", Rule: "openid", SessionID: "other-replica"}
	once := false
	f.store.BeforeAppend(func(ctx context.Context, cs []events.Change) error {
		if !once && cs[0].Aggregate.ID == attempt {
			once = true
			_, err := f.store.Append(ctx, events.Meta{}, events.Change{Aggregate: cs[0].Aggregate, Events: []events.Event{rival}})
			return err
		}
		return nil
	})
	ps := pipeliningStore{f.store}
	ss := sessions.New(ps, f.sessions.Signer, f.view)
	ss.Now = f.clock
	h := applogin.NewCodeHandler(applogin.Deps{Store: ps, Apps: f.apps, Accounts: accounts.New(ps, f.accounts.Box), View: f.view, Sessions: ss, WeChat: f.wechat, Now: f.clock})
	f.when()
	out, _, err := h.Handle(f.ctx, events.Meta{}, applogin.CodeLogin{App: "shop", Code: "c1"})
	if out.SessionToken != "" || out.IDToken != "" {
		t.Fatalf("tokens handed out: %+v", out)
	}
	f.thenError(err, "code_used", rival, f.session("acc-a", "shop", "wechat"),
		events.SessionRevoked{SessionID: "*", AccountID: "acc-a", Reason: events.RevokeLoginRefused})
}
