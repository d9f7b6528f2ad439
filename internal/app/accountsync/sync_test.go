package accountsync_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/accountsync"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/devtools/natstest"
	"github.com/bindery/bindery/projections"
)

// counting counts appends and can run a hook before the first one (to
// change the store between a batch's plan and its append).
type counting struct {
	*bjs.Store
	appends atomic.Int64
	once    sync.Once
	before  func()
}

func (c *counting) Append(ctx context.Context, meta events.Meta, changes ...events.Change) ([]events.Record, error) {
	if c.before != nil {
		c.once.Do(c.before)
	}
	c.appends.Add(1)
	return c.Store.Append(ctx, meta, changes...)
}

// blind hides who holds phones from bulk lookups, as if each phone were
// claimed between a batch's check and its append.
type blind struct{ *bjs.Store }

func (b blind) Owners(ctx context.Context, keys []events.ClaimKey) (map[events.ClaimKey]string, error) {
	m, err := b.Store.Owners(ctx, keys)
	for k := range m {
		if k.Kind == events.ClaimPhone {
			delete(m, k)
		}
	}
	return m, err
}

type syncFixture struct {
	store    *bjs.Store
	counted  *counting
	box      *secrets.Box
	accounts *accounts.Service // the sync's, appending through counted
	other    *accounts.Service // another replica's
	sync     *accountsync.Service
}

func newSyncFixture(t *testing.T) *syncFixture {
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
	f := &syncFixture{store: store, counted: &counting{Store: store}, box: box}
	f.accounts = accounts.New(f.counted, box)
	f.other = accounts.New(store, box)
	f.sync = accountsync.New(f.accounts, store)
	return f
}

func (f *syncFixture) run(t *testing.T, lines ...string) accountsync.Report {
	t.Helper()
	rep, _, err := f.sync.Run(context.Background(), events.Meta{Actor: "test"}, projections.App{ID: "crm"}, strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (f *syncFixture) byExternalID(t *testing.T, ext string) *account.Account {
	t.Helper()
	id, err := f.store.Owner(context.Background(), events.ClaimExternalID, ext)
	if err != nil || id == "" {
		t.Fatalf("no account with external_id %s (%v)", ext, err)
	}
	a, _, err := f.other.Repo.Refresh(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *syncFixture) create(t *testing.T, p account.Profile) string {
	t.Helper()
	id, _, err := f.other.Create(context.Background(), events.Meta{Actor: "test"}, accounts.Create{Profile: p, Source: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A phone taken after the batch's check fails its append as a whole: the
// lines are then applied one by one, the good ones land and the bad one is
// reported.
func TestSyncFallbackOnClaimTaken(t *testing.T) {
	f := newSyncFixture(t)
	f.create(t, account.Profile{ExternalID: "OWNER", Phone: "+8613500000004"})
	f.sync.Store = blind{f.store}
	var lines []string
	for i := 1; i <= 10; i++ {
		lines = append(lines, fmt.Sprintf(`{"external_id":"F%d","phone":"+86135000000%02d"}`, i, i))
	}
	rep := f.run(t, lines...)
	if rep.Created != 9 || len(rep.Failed) != 1 || rep.Failed[0].Line != 4 || rep.Failed[0].Code != "phone_taken" {
		t.Fatalf("report %+v", rep)
	}
	// One batch that failed, then one append per line.
	if n := f.counted.appends.Load(); n != 11 {
		t.Fatalf("%d appends, want 1 batch + 10 single", n)
	}
	for _, i := range []int{1, 3, 5, 10} {
		if a := f.byExternalID(t, fmt.Sprintf("F%d", i)); a.Identifiers().Phone != fmt.Sprintf("+86135000000%02d", i) {
			t.Fatalf("F%d: %+v", i, a.Identifiers())
		}
	}
}

// An account changed by another replica between the batch's plan and its
// append makes the append stale: the fallback decides that line again on
// the fresh state, and the file's value wins.
func TestSyncFallbackOnConcurrentChange(t *testing.T) {
	f := newSyncFixture(t)
	id := f.create(t, account.Profile{ExternalID: "Y1", DisplayName: "old"})
	other := "by another replica"
	f.counted.before = func() {
		if _, err := f.other.Update(context.Background(), events.Meta{Actor: "test"}, id, accounts.Update{DisplayName: &other}); err != nil {
			t.Error(err)
		}
	}
	lines := []string{`{"external_id":"Y1","display_name":"new"}`}
	for i := range 5 {
		lines = append(lines, fmt.Sprintf(`{"external_id":"N%d"}`, i))
	}
	rep := f.run(t, lines...)
	if rep.Created != 5 || rep.Updated != 1 || len(rep.Failed) != 0 {
		t.Fatalf("report %+v", rep)
	}
	if n := f.counted.appends.Load(); n != 7 {
		t.Fatalf("%d appends, want 1 stale batch + 6 single", n)
	}
	if a := f.byExternalID(t, "Y1"); a.DisplayName() != "new" {
		t.Fatalf("Y1 display name %q", a.DisplayName())
	}
}

// Lines that touch what an earlier line touches — in the same batch or in
// the batch still being appended — are decided on the state after it,
// without a failed append.
func TestSyncLinesThatDependOnEarlierOnes(t *testing.T) {
	f := newSyncFixture(t)
	f.sync.Batch = 3
	rep := f.run(t,
		`{"external_id":"A","phone":"+8613400000001"}`,
		`{"external_id":"B"}`,
		`{"external_id":"C","email":"c@example.com"}`,
		// next batch, while the first is appended
		`{"external_id":"A","display_name":"A2"}`,      // an update of A
		`{"external_id":"D","phone":"+8613400000001"}`, // A's phone: taken
		`{"external_id":"C","email":"c2@example.com"}`, // frees c@…
		`{"external_id":"E","email":"c@example.com"}`,  // …which E then takes
		`{"external_id":"E","display_name":"E again"}`, // and E twice
	)
	if rep.Created != 4 || rep.Updated != 3 || len(rep.Failed) != 1 || rep.Failed[0].Line != 5 || rep.Failed[0].Code != "phone_taken" {
		t.Fatalf("report %+v", rep)
	}
	if n := f.counted.appends.Load(); n > 5 {
		t.Fatalf("%d appends: some batch failed and fell back", n)
	}
	if a := f.byExternalID(t, "E"); a.Identifiers().Email != "c@example.com" || a.DisplayName() != "E again" {
		t.Fatalf("E: %+v %q", a.Identifiers(), a.DisplayName())
	}
	if a := f.byExternalID(t, "A"); a.DisplayName() != "A2" || a.Identifiers().Phone != "+8613400000001" {
		t.Fatalf("A: %+v %q", a.Identifiers(), a.DisplayName())
	}
}

// The report lists at most MaxFailures lines and counts the rest; a body
// past MaxBytes stops with a failure at the line where it was cut.
func TestSyncLimits(t *testing.T) {
	f := newSyncFixture(t)
	f.sync.MaxFailures = 3
	f.sync.MaxBytes = 200
	rep := f.run(t,
		`nope`, `nope`, `{"external_id":"L1"}`, `nope`, `nope`, `nope`,
		`{"external_id":"L2","display_name":"`+strings.Repeat("x", 150)+`"}`, `{"external_id":"L3"}`,
	)
	if rep.Created != 1 || len(rep.Failed) != 3 || rep.FailedOmitted != 3 {
		t.Fatalf("report %+v", rep)
	}
	for i, want := range []int{1, 2, 4} {
		if rep.Failed[i].Line != want {
			t.Fatalf("failures %+v", rep.Failed)
		}
	}
}
