package login_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/verify"
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/app/accounts"
	applogin "github.com/bindery/bindery/internal/app/login"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/crypto/hostcode"
)

func shopApp(f *fixture, rules []string, onNoMatch string) {
	f.apps.put("shop", events.AppSettings{Name: "Shop", Kind: events.AppKindWeChat, WeChatAppID: "wx1", MatchRules: rules, OnNoMatch: onNoMatch, AccountSource: events.AppAccountSource{Mode: "local"}})
}

// session is the session_issued a login appends for account at app.
func (f *fixture) session(account, app string, amr ...string) events.SessionIssued {
	return events.SessionIssued{SessionID: "*", AccountID: account, App: app, TokenHash: "*", AMR: amr, AuthTime: f.now, ExpiresAt: f.now.Add(sessions.DefaultSessionTTL)}
}

func (f *fixture) codeLogin(app, code string) (applogin.Outcome, error) {
	f.when()
	out, _, err := f.login.Code.Handle(f.ctx, events.Meta{Actor: "system"}, applogin.CodeLogin{App: app, Code: code})
	return out, err
}

func TestCodeLoginOK(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.givenAccount("acc-a", "shop", "o1")
	f.wechat.sessions["js-code-4711"] = wechat.Session{OpenID: "o1", SessionKey: "never-stored"}

	out, err := f.codeLogin("shop", "js-code-4711")
	if err != nil || out.Status != "OK" || out.AccountID != "acc-a" || out.IDToken == "" || out.SessionToken == "" || out.TokenType != "Bearer" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	recs := f.then(
		events.LoginSucceeded{App: "shop", AccountID: "acc-a", Method: "code", Rule: "openid", SessionID: "*"},
		f.session("acc-a", "shop", "wechat"),
	)
	if recs[0].Aggregate() != (events.Aggregate{Type: events.AggregateLogin, ID: login.AttemptID("shop", "code", "js-code-4711")}) ||
		recs[0].Event.(events.LoginSucceeded).SessionID != recs[1].Event.(events.SessionIssued).SessionID {
		t.Fatalf("attempt %s, session %v", recs[0].Subject, recs[1].Event)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Raw), "never-stored") || strings.Contains(string(r.Raw), "js-code-4711") {
			t.Fatalf("a secret or the raw code in %s", r.Raw)
		}
	}
}

func TestCodeLoginRouted(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.givenAccount("acc-a", "shop", "o1")
	f.wechat.sessions["c1"] = wechat.Session{OpenID: "o1"}
	f.when()
	out, _, err := f.login.Code.HandleRouted(f.ctx, events.Meta{}, applogin.RoutedCodeLogin{Code: "shop~c1"})
	if err != nil || out.Status != "OK" {
		t.Fatalf("routed: %+v %v", out, err)
	}
	f.then(events.LoginSucceeded{App: "shop", AccountID: "acc-a", Method: "code", Rule: "openid", SessionID: "*"}, f.session("acc-a", "shop", "wechat"))
	f.when()
	_, _, err = f.login.Code.HandleRouted(f.ctx, events.Meta{}, applogin.RoutedCodeLogin{Code: "c2"})
	f.thenError(err, "invalid_code")
}

func TestCodeLoginSocialBind(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"unionid", "openid"}, "bind")
	f.wechat.sessions["c1"] = wechat.Session{OpenID: "o1", UnionID: "u1"}

	out, err := f.codeLogin("shop", "c1")
	if err != nil || out.Status != "SOCIAL_BIND" || !strings.HasPrefix(out.BindTicket, "bbt.") || strings.Join(out.BindMethods, ",") != "phone,password,otp" || out.ExpiresIn != 600 {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	f.then(
		events.LoginPendingBind{App: "shop", Method: "code", Status: "SOCIAL_BIND", Ticket: ticketHash(out.BindTicket)},
		events.TicketIssued{Status: "SOCIAL_BIND", Identity: events.ProvenIdentity{App: "shop", OpenID: "o1", UnionID: "u1"}, ExpiresAt: f.now.Add(login.TicketTTL)},
	)
}

func TestCodeLoginUserRegister(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "register")
	f.wechat.sessions["c1"] = wechat.Session{OpenID: "o1"}

	out, err := f.codeLogin("shop", "c1")
	if err != nil || out.Status != "USER_REGISTER" || strings.Join(out.BindMethods, ",") != "phone,password,otp,register" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	f.then(
		events.LoginPendingBind{App: "shop", Method: "code", Status: "USER_REGISTER", Ticket: ticketHash(out.BindTicket)},
		events.TicketIssued{Status: "USER_REGISTER", Identity: events.ProvenIdentity{App: "shop", OpenID: "o1"}, ExpiresAt: f.now.Add(login.TicketTTL)},
	)

	// When the user registers with the ticket, then the account, its
	// binding and the registration, the ticket's use and a session.
	f.when()
	reg, _, err := f.login.Register.Handle(f.ctx, events.Meta{}, applogin.Register{Ticket: out.BindTicket, DisplayName: " Grace "})
	if err != nil || reg.Status != "OK" || reg.AccountID != "acc-1" {
		t.Fatalf("register: %+v %v", reg, err)
	}
	f.then(
		events.AccountCreated{AccountID: "acc-1", DisplayName: "Grace", Source: "register"},
		events.IdentityBound{AccountID: "acc-1", BoundIdentity: events.NewBoundIdentity("openid", "shop", "o1"), Method: "register"},
		events.AccountRegistered{AccountID: "acc-1", App: "shop", Method: "register"},
		events.LoginSucceeded{App: "shop", AccountID: "acc-1", Method: "register", SessionID: "*"},
		f.session("acc-1", "shop", "wechat"),
	)
	// The ticket is spent.
	f.when()
	_, _, err = f.login.Register.Handle(f.ctx, events.Meta{}, applogin.Register{Ticket: out.BindTicket, DisplayName: "Grace"})
	f.thenError(err, "ticket_used")
}

// A code Bindery has seen is refused before WeChat is asked, and nothing is
// appended.
func TestCodeLoginCodeReuse(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.givenAccount("acc-a", "shop", "o1")
	f.given(events.AggregateLogin, login.AttemptID("shop", "code", "c1"), events.LoginSucceeded{App: "shop", AccountID: "acc-a", Method: "code", Rule: "openid", SessionID: "s0"})
	f.wechat.sessions["c1"] = wechat.Session{OpenID: "o1"}

	_, err := f.codeLogin("shop", "c1")
	f.thenError(err, "code_used")
	if f.wechat.calls != 0 {
		t.Fatalf("WeChat was asked %d times about a spent code", f.wechat.calls)
	}
}

// WeChat's "invalid code" is the code's outcome.
func TestCodeLoginInvalidCode(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	_, err := f.codeLogin("shop", "unknown")
	f.thenError(err, "invalid_code", events.LoginFailed{App: "shop", Method: "code", Reason: "invalid_code"})
	_, err = f.codeLogin("shop", "bad code")
	f.thenError(err, "invalid_code")
}

func TestCodeLoginDisabledAccount(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.givenAccount("acc-a", "shop", "o1", events.AccountDisabled{AccountID: "acc-a", Reason: "admin"})
	f.wechat.sessions["c1"] = wechat.Session{OpenID: "o1"}

	_, err := f.codeLogin("shop", "c1")
	f.thenError(err, "account_disabled", events.LoginFailed{App: "shop", AccountID: "acc-a", Method: "code", Reason: "account_disabled"})
}

// The disable is decided on the account aggregate: a view that has not
// applied it yet (another replica disabled the account a moment ago), and
// an account cache this replica filled by a login of its own, do not let
// the next login through.
func TestCodeLoginDisabledWhileTheViewLags(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.givenAccount("acc-a", "shop", "o1")
	f.wechat.sessions["c1"] = wechat.Session{OpenID: "o1"}
	f.wechat.sessions["c2"] = wechat.Session{OpenID: "o1"}
	if out, err := f.codeLogin("shop", "c1"); err != nil || out.Status != "OK" {
		t.Fatalf("first login: %+v %v", out, err)
	}
	f.view.freeze()
	f.given(events.AggregateAccount, "acc-a", events.AccountDisabled{AccountID: "acc-a", Reason: "admin"})
	if acc, _ := f.view.Get("acc-a"); acc.Status != "active" {
		t.Fatalf("the frozen view says %q", acc.Status)
	}

	_, err := f.codeLogin("shop", "c2")
	f.thenError(err, "account_disabled", events.LoginFailed{App: "shop", AccountID: "acc-a", Method: "code", Reason: "account_disabled"})
}

// A later rule found the account: the earlier rules' identifiers are
// written onto it, then the login succeeds by that rule.
func TestCodeLoginBackfill(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"unionid", "openid"}, "bind")
	f.givenAccount("acc-a", "shop", "o1")
	f.wechat.sessions["c1"] = wechat.Session{OpenID: "o1", UnionID: "u1"}

	out, err := f.codeLogin("shop", "c1")
	if err != nil || out.AccountID != "acc-a" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	f.then(
		events.AttributesBackfilled{AccountID: "acc-a", App: "shop", Rule: "openid", Bindings: []events.BoundIdentity{events.NewBoundIdentity("unionid", "shop", "u1")}},
		events.LoginSucceeded{App: "shop", AccountID: "acc-a", Method: "code", Rule: "openid", SessionID: "*"},
		f.session("acc-a", "shop", "wechat"),
	)
	if owner, _ := f.store.Owner(f.ctx, events.ClaimUnionID, "u1"); owner != "acc-a" {
		t.Fatalf("unionid u1 belongs to %q", owner)
	}
}

// An earlier rule's value that another account claimed meanwhile (between
// the lookup and the back-fill) is not back-filled; the login stands.
func TestCodeLoginBackfillConflict(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"unionid", "openid"}, "bind")
	f.givenAccount("acc-a", "shop", "o1")
	f.givenAccount("acc-b", "shop", "")
	f.wechat.sessions["c1"] = wechat.Session{OpenID: "o1", UnionID: "u1"}
	rival := events.IdentityBound{AccountID: "acc-b", BoundIdentity: events.NewBoundIdentity("unionid", "shop", "u1"), Method: "admin"}
	once := false
	f.store.BeforeAppend(func(ctx context.Context, cs []events.Change) error {
		if !once && cs[0].Aggregate.ID == "acc-a" {
			once = true
			f.given(events.AggregateAccount, "acc-b", rival)
		}
		return nil
	})

	out, err := f.codeLogin("shop", "c1")
	if err != nil || out.AccountID != "acc-a" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	f.then(
		rival,
		events.LoginSucceeded{App: "shop", AccountID: "acc-a", Method: "code", Rule: "openid", SessionID: "*"},
		f.session("acc-a", "shop", "wechat"),
	)
}

// Two logins with one code at once (two replicas): the attempt's append
// expects a new aggregate, so exactly one wins; the other is code_used.
func TestCodeLoginConcurrentSameCode(t *testing.T) {
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

	_, err := f.codeLogin("shop", "c1")
	f.thenError(err, "code_used", rival)
}

// Host codes: verified by the app's secret; a nonce logs in once.
func portalApp(f *fixture, source string) {
	f.apps.put("portal", events.AppSettings{Name: "Portal", Kind: events.AppKindHost, MatchRules: []string{"external_id"}, OnNoMatch: "bind", AccountSource: events.AppAccountSource{Mode: source, URL: "https://customer.example/verify"}})
}

func (f *fixture) hostCode(uid, nonce string) string {
	return hostcode.Mint([]byte("secret-portal"), uid, f.now.Add(time.Minute), nonce+"-0123456789abcdef")
}

func TestHostCodeLogin(t *testing.T) {
	f := newFixture(t)
	portalApp(f, "local")
	f.given(events.AggregateAccount, "acc-e", events.AccountCreated{AccountID: "acc-e", ExternalID: "E7", DisplayName: "Grace"})
	code := f.hostCode("E7", "n1")

	out, err := f.codeLogin("portal", code)
	if err != nil || out.AccountID != "acc-e" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	// external_id is the first rule (the host_uid binding is looked up
	// last, as the rules do not name it): nothing to back-fill.
	f.then(
		events.LoginSucceeded{App: "portal", AccountID: "acc-e", Method: "host_code", Rule: "external_id", SessionID: "*"},
		f.session("acc-e", "portal", "host"),
	)
	// The same nonce again: code_used, decided by the append.
	_, err = f.codeLogin("portal", code)
	f.thenError(err, "code_used")
	// A code that does not verify is recorded as such.
	_, err = f.codeLogin("portal", hostcode.Mint([]byte("wrong"), "E7", f.now.Add(time.Minute), "n2-0123456789abcdef"))
	f.thenError(err, "invalid_code", events.LoginFailed{App: "portal", Method: "host_code", Reason: "invalid_code"})
}

// Verify mode: nobody matched, the customer's API vouches for the host
// user, and Bindery creates the account it describes and logs in to it.
func TestHostCodeLoginVerifyMode(t *testing.T) {
	f := newFixture(t)
	portalApp(f, "verify")
	f.verifier.hostUsers = map[string]verify.Answer{"E7": {ExternalID: "E7", DisplayName: "Grace", Phone: "+8613800138000"}}

	out, err := f.codeLogin("portal", f.hostCode("E7", "n1"))
	if err != nil || out.Status != "OK" || out.AccountID != "acc-1" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	f.then(
		events.AccountCreated{AccountID: "acc-1", ExternalID: "E7", DisplayName: "Grace", Phone: "+8613800138000", Source: "verify"},
		events.AccountVerified{AccountID: "acc-1", App: "portal", ExternalID: "E7", Method: "host_uid"},
		events.IdentityBound{AccountID: "acc-1", BoundIdentity: events.NewBoundIdentity("host_uid", "portal", "E7"), Method: "verify"},
		events.LoginSucceeded{App: "portal", AccountID: "acc-1", Method: "host_code", Rule: "verify", SessionID: "*"},
		f.session("acc-1", "portal", "host"),
	)

	// The API does not know the user: a bind ticket, as without it.
	out, err = f.codeLogin("portal", f.hostCode("E8", "n2"))
	if err != nil || out.Status != "SOCIAL_BIND" || strings.Join(out.BindMethods, ",") != "password,otp" {
		t.Fatalf("unknown user: %+v, %v", out, err)
	}
	f.then(
		events.LoginPendingBind{App: "portal", Method: "host_code", Status: "SOCIAL_BIND", Ticket: "*"},
		events.TicketIssued{Status: "SOCIAL_BIND", Identity: events.ProvenIdentity{App: "portal", HostUID: "E8"}, ExpiresAt: f.now.Add(login.TicketTTL)},
	)
}

// countingStore counts the store calls a command makes (each one a
// JetStream round trip on the real store).
type countingStore struct {
	events.Store
	mu    sync.Mutex // the claim and the account are read at once
	calls map[string]int
}

func (s *countingStore) count(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[k]++
}

func (s *countingStore) Append(ctx context.Context, meta events.Meta, cs ...events.Change) ([]events.Record, error) {
	s.count("append")
	return s.Store.Append(ctx, meta, cs...)
}

func (s *countingStore) Load(ctx context.Context, agg events.Aggregate, after uint64) ([]events.Record, error) {
	s.count("load " + agg.Type)
	return s.Store.Load(ctx, agg, after)
}

func (s *countingStore) Version(ctx context.Context, agg events.Aggregate) (uint64, error) {
	s.count("version " + agg.Type)
	return s.Store.Version(ctx, agg)
}

func (s *countingStore) Owner(ctx context.Context, kind, value string) (string, error) {
	s.count("owner")
	return s.Store.Owner(ctx, kind, value)
}

// A returning user's login is the hot path (BENCHMARKS.md): with the
// account cached, it costs the code's seen-check, one claim lookup, the
// account's freshness check (the write-side disabled decision) and two
// single-message appends — five round trips, of which the claim and the
// account are read at once (TestReturningLoginReadsClaimAndAccountTogether)
// and the appends pipelined on JetStream: three waits.
func TestReturningLoginRoundTrips(t *testing.T) {
	f := newFixture(t)
	shopApp(f, []string{"openid"}, "bind")
	f.givenAccount("acc-a", "shop", "o1")
	counted := &countingStore{Store: f.store, calls: map[string]int{}}
	ss := sessions.New(counted, f.sessions.Signer, f.view)
	accts := accounts.New(counted, f.accounts.Box)
	h := applogin.NewCodeHandler(applogin.Deps{Store: counted, Apps: f.apps, Accounts: accts, View: f.view, Sessions: ss, WeChat: f.wechat, Now: f.clock})
	for i, code := range []string{"warm", "hot"} {
		f.wechat.sessions[code] = wechat.Session{OpenID: "o1"}
		clear(counted.calls)
		out, _, err := h.Handle(f.ctx, events.Meta{}, applogin.CodeLogin{App: "shop", Code: code})
		if err != nil || out.Status != "OK" {
			t.Fatalf("login %d: %+v %v", i, out, err)
		}
	}
	want := map[string]int{"version login": 1, "owner": 1, "load account": 1, "append": 2}
	if len(counted.calls) != len(want) {
		t.Fatalf("store calls %v, want %v", counted.calls, want)
	}
	for k, n := range want {
		if counted.calls[k] != n {
			t.Fatalf("store calls %v, want %v", counted.calls, want)
		}
	}
}
