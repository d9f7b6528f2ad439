package login_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/events/memstore"
	"github.com/bindery/bindery/internal/adapters/otpsend"
	"github.com/bindery/bindery/internal/adapters/verify"
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/login"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/projections"
)

// The use-case tests read as Zitadel's command tests do: given these
// events in the store, when this command, then these events are appended
// (or this error, and nothing). They run on events/memstore with fakes
// behind the package's ports; sessions and accounts are the real use cases.

// fixture is one store, the fakes, and the login handlers over them.
type fixture struct {
	t        *testing.T
	ctx      context.Context
	store    *memstore.Store
	view     *syncedView
	apps     *fakeApps
	wechat   *fakeWeChat
	verifier *fakeVerifier
	sender   *fakeSender
	accounts *accounts.Service
	sessions *sessions.Service
	now      time.Time
	login    *login.Login
	before   events.Position
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	store := memstore.New()
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	box, err := secrets.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		t: t, ctx: ctx, store: store,
		view:     &syncedView{store: store, view: projections.NewAccounts()},
		apps:     &fakeApps{apps: map[string]projections.App{}},
		wechat:   &fakeWeChat{sessions: map[string]wechat.Session{}, phones: map[string]string{}},
		verifier: &fakeVerifier{},
		sender:   &fakeSender{},
		now:      time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC),
	}
	f.accounts = accounts.New(store, box)
	n := 0
	f.accounts.NewID = func() string { n++; return fmt.Sprintf("acc-%d", n) }
	f.accounts.Hasher = func(pw string) (string, error) { return "not-a-hash:" + pw, nil }
	signer, err := tokens.NewSigner(ctx, tokens.NewMemoryKeyStore(), box, tokens.SignerOptions{Issuer: "https://id.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ss := sessions.New(store, signer, f.view)
	ss.Now = f.clock
	f.sessions = ss
	f.login = login.New(login.Deps{
		Store: store, Apps: f.apps, Accounts: f.accounts, View: f.view, Sessions: ss,
		WeChat: f.wechat, Sender: f.sender, Verifier: f.verifier, OTPKey: []byte("otp-key"),
		Now: f.clock,
	})
	return f
}

func (f *fixture) clock() time.Time { return f.now }

// given appends events to an aggregate, as earlier commands would have.
func (f *fixture) given(typ, id string, evs ...events.Event) {
	f.t.Helper()
	if _, err := f.store.Given(events.Aggregate{Type: typ, ID: id}, evs...); err != nil {
		f.t.Fatalf("given %s/%s: %v", typ, id, err)
	}
}

// givenAccount is an active account with an openid of app bound.
func (f *fixture) givenAccount(id, app, openid string, more ...events.Event) {
	f.t.Helper()
	evs := []events.Event{events.AccountCreated{AccountID: id, DisplayName: "Ada"}}
	if openid != "" {
		evs = append(evs, events.IdentityBound{AccountID: id, BoundIdentity: events.NewBoundIdentity(events.BindingOpenID, app, openid), Method: "admin"})
	}
	f.given(events.AggregateAccount, id, append(evs, more...)...)
}

// when marks where the command's events start.
func (f *fixture) when() {
	f.t.Helper()
	pos, err := f.store.Head(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	f.before = pos
}

// then asserts the events appended since when, in order. A string field
// of a wanted event that is "*" matches any value (ids, hashes, tokens).
func (f *fixture) then(want ...events.Event) []events.Record {
	f.t.Helper()
	got := f.store.Since(f.before)
	if len(got) != len(want) {
		f.t.Fatalf("appended %d events, want %d:\n%s", len(got), len(want), dump(got))
	}
	for i, w := range want {
		if !match(reflect.ValueOf(w), reflect.ValueOf(got[i].Event)) {
			f.t.Fatalf("event %d: got %T %+v\nwant %T %+v\nall:\n%s", i, got[i].Event, got[i].Event, w, w, dump(got))
		}
	}
	return got
}

// thenError asserts the command failed with code and appended want.
func (f *fixture) thenError(err error, code string, want ...events.Event) {
	f.t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != code {
		f.t.Fatalf("error %v, want code %q", err, code)
	}
	f.then(want...)
}

func dump(recs []events.Record) string {
	s := ""
	for _, r := range recs {
		s += fmt.Sprintf("  %s %T %+v\n", r.Subject, r.Event, r.Event)
	}
	return s
}

var timeType = reflect.TypeOf(time.Time{})

func match(want, got reflect.Value) bool {
	if want.Type() != got.Type() {
		return false
	}
	switch {
	case want.Type() == timeType:
		return want.Interface().(time.Time).Equal(got.Interface().(time.Time))
	case want.Kind() == reflect.String:
		return want.String() == "*" || want.String() == got.String()
	case want.Kind() == reflect.Struct:
		for i := range want.NumField() {
			if !match(want.Field(i), got.Field(i)) {
				return false
			}
		}
		return true
	case want.Kind() == reflect.Slice:
		if want.Len() != got.Len() {
			return false
		}
		for i := range want.Len() {
			if !match(want.Index(i), got.Index(i)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want.Interface(), got.Interface())
}

// syncedView is the account view kept up to date with the store on every
// read, as a replica's projection would be once caught up; frozen, it
// stops there, as a replica's view lagging behind would.
type syncedView struct {
	mu     sync.Mutex
	store  *memstore.Store
	view   *projections.Accounts
	pos    events.Position
	frozen bool
}

func (v *syncedView) Get(id string) (projections.Account, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.frozen {
		for _, r := range v.store.Since(v.pos) {
			v.view.Apply(r)
			v.pos = v.pos.Max(events.PositionOf([]events.Record{r}))
		}
	}
	return v.view.Get(id)
}

func (v *syncedView) freeze() {
	v.Get("") // catch up first
	v.mu.Lock()
	v.frozen = true
	v.mu.Unlock()
}

// fakeApps holds apps by id; their secrets are "secret-<id>".
type fakeApps struct{ apps map[string]projections.App }

func (a *fakeApps) put(id string, s events.AppSettings) {
	a.apps[id] = projections.App{ID: id, AppSettings: s}
}

func (a *fakeApps) Get(_ context.Context, id string) (projections.App, error) {
	if x, ok := a.apps[id]; ok {
		return x, nil
	}
	return projections.App{}, domain.NotFound("no app %q", id)
}

func (a *fakeApps) Secret(x projections.App) ([]byte, error) { return []byte("secret-" + x.ID), nil }

func (a *fakeApps) VerifySecret(x projections.App) ([]byte, error) {
	return []byte("verify-" + x.ID), nil
}

// fakeWeChat answers the codes it was given, and counts every call.
type fakeWeChat struct {
	mu       sync.Mutex
	sessions map[string]wechat.Session
	phones   map[string]string
	calls    int
}

func (w *fakeWeChat) Code2Session(_ context.Context, _ wechat.Credentials, code string) (wechat.Session, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	if s, ok := w.sessions[code]; ok {
		return s, nil
	}
	return wechat.Session{}, &wechat.Error{Code: 40029, Msg: "invalid code"}
}

func (w *fakeWeChat) PhoneNumber(_ context.Context, _ wechat.Credentials, code string) (wechat.Phone, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	if p, ok := w.phones[code]; ok {
		return wechat.Phone{E164: p}, nil
	}
	return wechat.Phone{}, &wechat.Error{Code: 40029, Msg: "invalid code"}
}

// fakeVerifier is a customer's account API that knows some host users and
// one password.
type fakeVerifier struct {
	hostUsers map[string]verify.Answer
	password  map[[2]string]verify.Answer
}

func (v *fakeVerifier) Password(_ context.Context, _, _, username, password string) (verify.Answer, error) {
	if a, ok := v.password[[2]string{username, password}]; ok {
		return a, nil
	}
	return verify.Answer{}, verify.ErrRejected
}

func (v *fakeVerifier) HostUser(_ context.Context, _, _, uid string) (verify.Answer, error) {
	if a, ok := v.hostUsers[uid]; ok {
		return a, nil
	}
	return verify.Answer{}, verify.ErrRejected
}

// fakeSender keeps the codes it was asked to deliver.
type fakeSender struct {
	mu   sync.Mutex
	sent []otpsend.Message
}

func (s *fakeSender) Supports(channel string) bool {
	return channel == otpsend.SMS || channel == otpsend.Email
}

func (s *fakeSender) Send(_ context.Context, m otpsend.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m)
	return nil
}

func (s *fakeSender) last() otpsend.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[len(s.sent)-1]
}

// The fakes satisfy the ports, as the adapters do.
var (
	_ login.Apps          = (*fakeApps)(nil)
	_ login.WeChat        = (*fakeWeChat)(nil)
	_ login.Verifier      = (*fakeVerifier)(nil)
	_ login.OTPSender     = (*fakeSender)(nil)
	_ login.AccountReader = (*syncedView)(nil)
)

// ticketHash is the ticket aggregate's id of a raw bind ticket.
func ticketHash(raw string) string { return tokens.HashToken(raw) }
