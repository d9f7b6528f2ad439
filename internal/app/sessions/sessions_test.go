package sessions_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/internal/devtools/natstest"
	"github.com/bindery/bindery/projections"
)

// sessionReplicas are two Sessions over one store, each with its own cache, as
// two bindery sessionReplicas would be.
type sessionReplicas struct {
	store    *bjs.Store
	accounts *projections.Accounts
	a, b     *sessions.Service
	account  string
}

func newSessionReplicas(t *testing.T) *sessionReplicas {
	t.Helper()
	ns := natstest.Server(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := bjs.Open(ctx, natstest.Connect(t, ns.ClientURL()), events.Catalogue(), bjs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	box, _ := secrets.NewBox(key)
	signer, err := tokens.NewSigner(ctx, tokens.NewMemoryKeyStore(), box, tokens.SignerOptions{Issuer: "https://id.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	accounts := projections.NewAccounts()
	id := uuid.NewString()
	accounts.Apply(events.Record{Event: events.AccountCreated{AccountID: id, DisplayName: "Ada", Username: "ada"}})
	return &sessionReplicas{
		store: store, accounts: accounts, account: id,
		a: sessions.New(store, signer, accounts),
		b: sessions.New(store, signer, accounts),
	}
}

func (r *sessionReplicas) start(t *testing.T) sessions.Issued {
	t.Helper()
	acc, _ := r.accounts.Get(r.account)
	chg, iss, err := r.a.Start(sessions.ClaimsFor(acc), "demo", []string{"wx"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.Append(context.Background(), events.Meta{Actor: r.account}, chg); err != nil {
		t.Fatal(err)
	}
	return iss
}

// A replica whose cache predates another replica's rotation still accepts
// the new token, and still detects reuse of the old one.
func TestSessionsAcrossReplicas(t *testing.T) {
	t.Parallel()
	r := newSessionReplicas(t)
	ctx := context.Background()
	iss := r.start(t)
	// Both sessionReplicas have the family cached before anything happens.
	for _, s := range []*sessions.Service{r.a, r.b} {
		if _, _, err := s.Repo.Get(ctx, strings.SplitN(iss.SessionToken, ".", 2)[0]); err != nil {
			t.Fatal(err)
		}
	}
	next, _, err := r.a.Refresh(ctx, events.Meta{}, iss.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	// b's cache still names the old token current; the new one works on b.
	third, _, err := r.b.Refresh(ctx, events.Meta{}, next.SessionToken)
	if err != nil {
		t.Fatalf("new token on a stale replica: %v", err)
	}
	// a's cache is stale now: it thinks next is current. Presenting it is
	// reuse, found when the append conflicts and a decides again.
	if _, _, err := r.a.Refresh(ctx, events.Meta{}, next.SessionToken); !errors.Is(err, session.ErrReused) {
		t.Fatalf("reuse on a stale replica: %v", err)
	}
	if _, _, err := r.b.Refresh(ctx, events.Meta{}, third.SessionToken); !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("newest token after reuse: %v", err)
	}
}

// Concurrent refreshes with one token: exactly one wins; the others are
// reuse, which revokes the family (the winner's token dies too).
func TestConcurrentRefreshOneWins(t *testing.T) {
	t.Parallel()
	r := newSessionReplicas(t)
	iss := r.start(t)
	const n = 8
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		s := r.a
		if i%2 == 1 {
			s = r.b
		}
		wg.Go(func() {
			_, _, results[i] = s.Refresh(context.Background(), events.Meta{}, iss.SessionToken)
		})
	}
	wg.Wait()
	ok, reused := 0, 0
	for _, err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, session.ErrReused), errors.Is(err, session.ErrInvalid):
			reused++
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 1 || reused != n-1 {
		t.Fatalf("%d succeeded, %d refused", ok, reused)
	}
	recs, err := r.store.Load(context.Background(), events.Aggregate{Type: "session", ID: strings.SplitN(iss.SessionToken, ".", 2)[0]}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rec := range recs {
		names = append(names, rec.Event.EventName())
	}
	if got := strings.Join(names, ","); got != "session_issued,session_refreshed,session_reuse_detected,session_revoked" {
		t.Fatalf("events %s", got)
	}
}

func TestClaimsFor(t *testing.T) {
	t.Parallel()
	c := sessions.ClaimsFor(projections.Account{
		ID: "a", DisplayName: "Ada", Username: "ada", AvatarURL: "https://x/y.png", Phone: "+8613800138000", Email: "a@x.io",
		Roles: []projections.RoleGrant{{Role: "admin"}, {Role: "viewer", Org: "sales"}}, Orgs: []string{"sales"},
		Status: account.StatusActive,
	})
	if c.AccountID != "a" || c.Name != "Ada" || c.Username != "ada" || c.Picture != "https://x/y.png" || c.Phone != "+8613800138000" ||
		c.Email != "a@x.io" || strings.Join(c.Roles, ",") != "admin,viewer@sales" || strings.Join(c.Orgs, ",") != "sales" {
		t.Fatalf("claims %+v", c)
	}
	if _, _, err := (&sessions.Service{}).Start(sessions.IDClaims{}, "demo", nil, time.Now()); err == nil {
		t.Fatal("Start without an account")
	}
}
