package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// auditLine is one NDJSON line of GET /v1/audit/events.
type auditLine struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Subject  string          `json:"subject"`
	Time     time.Time       `json:"time"`
	PrevHash string          `json:"prevhash"`
	Data     json.RawMessage `json:"data"`
	Stream   string          `json:"stream"`
	Sequence uint64          `json:"sequence"`
	raw      []byte
}

type auditPage struct {
	Events []auditLine
	Next   string
	More   bool
	Count  int
}

func auditEvents(t *testing.T, env *testenv.Env, q url.Values) auditPage {
	t.Helper()
	r := env.Admin("GET", "/v1/audit/events?"+q.Encode(), nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("audit events %s: %d %s", q.Encode(), r.Status, r.Body)
	}
	var p auditPage
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		// Every line is a CloudEvent (issue 13, finding 7: the page's
		// cursor was a last line that was not).
		var e auditLine
		var ce struct {
			SpecVersion string `json:"specversion"`
			Source      string `json:"source"`
		}
		if err := json.Unmarshal(line, &e); err != nil || e.ID == "" || json.Unmarshal(line, &ce) != nil || ce.SpecVersion != "1.0" || ce.Source == "" || e.Type == "" {
			t.Fatalf("event line %s: %v", line, err)
		}
		e.raw = line
		p.Events = append(p.Events, e)
	}
	// The cursor is in the trailers.
	tr := r.Trailer
	var err error
	p.Next, p.More = tr.Get("X-Bindery-Next"), tr.Get("X-Bindery-More") == "true"
	if p.Count, err = strconv.Atoi(tr.Get("X-Bindery-Count")); err != nil || p.Next == "" || tr.Get("X-Bindery-Error") != "" || tr.Get("X-Bindery-Head") == "" {
		t.Fatalf("trailers %v: %v", tr, err)
	}
	if p.Count != len(p.Events) {
		t.Fatalf("cursor says %d events, got %d", p.Count, len(p.Events))
	}
	if link := tr.Get("Link"); p.More != (link != "") || (p.More && !strings.Contains(link, "after="+url.QueryEscape(p.Next)) || p.More && !strings.HasSuffix(link, `; rel="next"`)) {
		t.Fatalf("more %v, Link %q", p.More, link)
	}
	return p
}

// appendAuth stores an auth-log event that names an account, as a login
// does.
func appendAuth(t *testing.T, env *testenv.Env, e events.Event) {
	t.Helper()
	typ := "login"
	if _, ok := e.(events.SessionIssued); ok {
		typ = "session"
	}
	_, err := env.App.Store.Append(context.Background(), events.Meta{Actor: "system", Time: time.Now()},
		events.Change{Aggregate: events.Aggregate{Type: typ, ID: uuid.NewString()}, Events: []events.Event{e}})
	if err != nil {
		t.Fatal(err)
	}
}

func createAccount(t *testing.T, env *testenv.Env, body map[string]any) string {
	t.Helper()
	r := env.Admin("POST", "/v1/accounts", body)
	if r.Status != 201 {
		t.Fatalf("create account: %d %s", r.Status, r.Body)
	}
	return r.Map(t)["id"].(string)
}

func TestAuditEventsFilters(t *testing.T) {
	env := testenv.Start(t, "", map[string]string{"BINDERY_AUDIT_SEAL_INTERVAL": "0"})
	a := createAccount(t, env, map[string]any{"username": "alice", "display_name": "Alice"})
	b := createAccount(t, env, map[string]any{"username": "bob", "display_name": "Bob"})
	if r := env.Admin("PATCH", "/v1/accounts/"+a, map[string]any{"display_name": "Alice B."}); r.Status != 200 {
		t.Fatal(r.Status)
	}
	mid := time.Now()
	if r := env.Admin("DELETE", "/v1/accounts/"+b, nil); r.Status != 200 {
		t.Fatal(r.Status)
	}
	appendAuth(t, env, events.LoginSucceeded{App: "demo", AccountID: a, Method: "code"})
	appendAuth(t, env, events.SessionIssued{SessionID: uuid.NewString(), AccountID: a, App: "demo", TokenHash: "ab"})
	appendAuth(t, env, events.LoginFailed{App: "demo", AccountID: b, Method: "password", Reason: "wrong_password"})

	all := auditEvents(t, env, url.Values{})
	if len(all.Events) != 7 || all.More {
		t.Fatalf("all: %d events, more %v", len(all.Events), all.More)
	}
	for _, tc := range []struct {
		query string
		want  []string // event names, in order
	}{
		{"", []string{"account_created", "account_created", "account_updated", "account_disabled", "login_succeeded", "session_issued", "login_failed"}},
		{"aggregate=account", []string{"account_created", "account_created", "account_updated", "account_disabled"}},
		{"aggregate=account/" + a, []string{"account_created", "account_updated"}},
		{"aggregate=session", []string{"session_issued"}},
		{"aggregate=role", nil},
		{"type=account_created", []string{"account_created", "account_created"}},
		{"type=bindery.account_created.v1", []string{"account_created", "account_created"}},
		{"type=bindery.account_created.v2", nil},
		{"type=login_failed", []string{"login_failed"}},
		{"account=" + a, []string{"account_created", "account_updated", "login_succeeded", "session_issued"}},
		{"account=" + b + "&type=login_failed", []string{"login_failed"}},
		{"account=" + a + "&aggregate=login", []string{"login_succeeded"}},
		{"since=" + mid.Format(time.RFC3339Nano), []string{"account_disabled", "login_succeeded", "session_issued", "login_failed"}},
		{"until=" + mid.Format(time.RFC3339Nano), []string{"account_created", "account_created", "account_updated"}},
		{"since=" + mid.Format(time.RFC3339Nano) + "&aggregate=account", []string{"account_disabled"}},
		{"limit=2", []string{"account_created", "account_created"}},
		{"after=" + all.Next, nil},
	} {
		q, _ := url.ParseQuery(tc.query)
		p := auditEvents(t, env, q)
		var got []string
		for _, e := range p.Events {
			got = append(got, strings.TrimSuffix(strings.TrimPrefix(e.Type, "bindery."), ".v1"))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("?%s: got %v, want %v", tc.query, got, tc.want)
		}
	}

	// The position is the trailer X-Bindery-Next, and the Link trailer
	// names the next page, which continues where this one stopped.
	first := auditEvents(t, env, url.Values{"limit": {"3"}})
	if !first.More || first.Next == "" || len(first.Events) != 3 {
		t.Fatalf("first page: %+v", first)
	}
	r := env.Admin("GET", "/v1/audit/events?limit=3", nil)
	link := r.Trailer.Get("Link")
	next := strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
	second := auditEvents(t, env, func() url.Values { u, _ := url.Parse(next); return u.Query() }())
	if len(second.Events) != 3 || second.Events[0].ID != all.Events[3].ID {
		t.Fatalf("Link %q led to %+v", link, second.Events)
	}

	// The lines are the stored events: without the two appended members
	// they hash to the next event's prevhash.
	byID := map[string]auditLine{}
	for _, e := range all.Events {
		byID[e.ID] = e
	}
	acc := auditEvents(t, env, url.Values{"aggregate": {"account/" + a}}).Events
	stored := acc[0].raw[:bytes.LastIndex(acc[0].raw, []byte(`,"stream":`))]
	sum := sha256.Sum256(append(stored, '}'))
	if acc[1].PrevHash != hex.EncodeToString(sum[:]) || acc[0].Stream != "history" || acc[0].Sequence == 0 {
		t.Fatalf("line is not the stored event: prevhash %s, hash %x", acc[1].PrevHash, sum)
	}
}

func TestAuditEventsBadInput(t *testing.T) {
	env := testenv.Start(t, "", map[string]string{"BINDERY_AUDIT_SEAL_INTERVAL": "0"})
	for _, q := range []string{
		"limit=0", "limit=10001", "limit=x", "after=nope", "after=h1", "since=yesterday", "until=2026-13-01T00:00:00Z",
		"since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "aggregate=a.b", "aggregate=account/x*y", "aggregate=account/a.b",
		"type=Account_Created", "type=bindery.x.v0", "type=a>", "type=nonsense", "type=bindery.nonsense.v1", "account=x.y", "colour=red",
	} {
		r := env.Admin("GET", "/v1/audit/events?"+q, nil)
		var p struct{ Code string }
		_ = json.Unmarshal(r.Body, &p)
		if r.Status != 400 || r.Header.Get("Content-Type") != "application/problem+json" || p.Code != "validation_failed" {
			t.Errorf("?%s: %d %s %s", q, r.Status, r.Header.Get("Content-Type"), r.Body)
		}
	}
	for _, path := range []string{"/v1/audit/events", "/v1/audit/verify", "/v1/audit/views", "/v1/audit/views/accounts"} {
		if r := env.Do("GET", path, nil); r.Status != 401 {
			t.Errorf("%s without a token: %d", path, r.Status)
		}
	}
	if r := env.Admin("GET", "/v1/audit/views/nope", nil); r.Status != 404 {
		t.Errorf("unknown view: %d %s", r.Status, r.Body)
	}
	if r := env.Admin("GET", "/v1/audit/verify?seal=maybe", nil); r.Status != 400 {
		t.Errorf("seal=maybe: %d", r.Status)
	}
}

// Paging with after=next neither skips nor repeats an event, while events
// keep being appended to both streams.
func TestAuditEventsPaging(t *testing.T) {
	env := testenv.Start(t, "", map[string]string{"BINDERY_AUDIT_SEAL_INTERVAL": "0"})
	write := func(i int) {
		id := createAccount(t, env, map[string]any{"display_name": fmt.Sprintf("P%d", i)})
		appendAuth(t, env, events.LoginSucceeded{App: "demo", AccountID: id, Method: "code"})
	}
	for i := 0; i < 20; i++ {
		write(i)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 20; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			write(i)
		}
	}()
	seen := map[string]int{}
	var order []auditLine
	next := ""
	pages := 0
	for {
		q := url.Values{"limit": {"7"}}
		if next != "" {
			q.Set("after", next)
		}
		p := auditEvents(t, env, q)
		for _, e := range p.Events {
			seen[e.ID]++
			order = append(order, e)
		}
		next = p.Next
		if pages++; pages == 8 {
			close(stop)
			wg.Wait()
		}
		if !p.More && pages > 8 {
			break
		}
	}
	all := auditEvents(t, env, url.Values{"limit": {"10000"}})
	if len(all.Events) != len(seen) {
		t.Fatalf("paged %d distinct events, the streams hold %d", len(seen), len(all.Events))
	}
	for _, e := range all.Events {
		if seen[e.ID] != 1 {
			t.Fatalf("event %s seen %d times", e.ID, seen[e.ID])
		}
	}
	// Within each stream, pages come in stream order.
	last := map[string]uint64{}
	for _, e := range order {
		if e.Sequence <= last[e.Stream] {
			t.Fatalf("%s %d after %d", e.Stream, e.Sequence, last[e.Stream])
		}
		last[e.Stream] = e.Sequence
	}
}

// Seal, verify, the published key, and the views a replay compares.
func TestAuditSealVerifyKeyViews(t *testing.T) {
	env := testenv.Start(t, "", map[string]string{"BINDERY_AUDIT_SEAL_INTERVAL": "0"})
	id := createAccount(t, env, map[string]any{"username": "carol", "display_name": "Carol"})
	r := env.Admin("POST", "/v1/audit/seal", nil)
	var sealed struct{ Checkpoints []struct{ Stream string } }
	r.JSON(t, &sealed)
	if r.Status != 200 || len(sealed.Checkpoints) != 1 || sealed.Checkpoints[0].Stream != "history" {
		t.Fatalf("seal: %d %s", r.Status, r.Body)
	}
	createAccount(t, env, map[string]any{"display_name": "Dave"})
	r = env.Admin("GET", "/v1/audit/verify", nil)
	var rep struct {
		OK          bool
		Events      int
		Head        string
		Checkpoints int
		Unsealed    int
		FirstBad    any `json:"first_bad"`
	}
	r.JSON(t, &rep)
	if r.Status != 200 || !rep.OK || rep.Events != 2 || rep.Checkpoints != 1 || rep.Unsealed != 1 || rep.FirstBad != nil || rep.Head == "" {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	r = env.Admin("GET", "/v1/audit/verify?seal=true", nil)
	r.JSON(t, &rep)
	if !rep.OK || rep.Unsealed != 0 || rep.Checkpoints != 2 {
		t.Fatalf("verify?seal=true: %s", r.Body)
	}
	r = env.Do("GET", "/v1/audit/key", nil) // public
	var keys struct {
		Current string
		Keys    []struct {
			KeyID     string `json:"key_id"`
			Alg       string
			PublicKey string `json:"public_key"`
		}
	}
	r.JSON(t, &keys)
	if r.Status != 200 || len(keys.Keys) != 1 || keys.Keys[0].KeyID != keys.Current || keys.Keys[0].Alg != "Ed25519" || len(keys.Keys[0].PublicKey) != 43 {
		t.Fatalf("key: %d %s", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), "private") {
		t.Fatalf("key response shows private material: %s", r.Body)
	}

	r = env.Admin("GET", "/v1/audit/views", nil)
	var views struct {
		Position string
		Views    []string
	}
	r.JSON(t, &views)
	if r.Status != 200 || !strings.Contains(strings.Join(views.Views, ","), "accounts") {
		t.Fatalf("views: %s", r.Body)
	}
	r = env.Admin("GET", "/v1/audit/views/accounts?min_position="+views.Position, nil)
	var view struct {
		Name, Position string
		Snapshot       []struct{ ID string }
	}
	r.JSON(t, &view)
	if r.Status != 200 || view.Name != "accounts" || len(view.Snapshot) != 2 || r.Header.Get("X-Bindery-Position") != view.Position {
		t.Fatalf("view: %d %s", r.Status, r.Body)
	}
	_ = id
}

// The exported history holds no secret: no password, app secret, admin
// token or master key, in any form a test can think of.
func TestAuditExportHasNoSecrets(t *testing.T) {
	env := testenv.Start(t, "", map[string]string{"BINDERY_AUDIT_SEAL_INTERVAL": "0"})
	const password = "correct horse battery staple 42"
	const appSecret = "wxsecret-5f1e2d3c4b5a69788796a5b4"
	const hostSecret = "host-shared-secret-do-not-leak-9"
	id := createAccount(t, env, map[string]any{"username": "erin", "display_name": "Erin", "password": password})
	if r := env.Admin("PATCH", "/v1/accounts/"+id, map[string]any{"password": password + "!"}); r.Status != 200 {
		t.Fatalf("password change: %d %s", r.Status, r.Body)
	}
	for _, app := range []struct {
		id   string
		body map[string]any
	}{
		{"wx", map[string]any{"name": "WeChat app", "kind": "wechat", "wechat": map[string]any{"appid": "wx0123456789", "secret": appSecret}, "match_rules": []string{"openid"}, "on_no_match": "register"}},
		{"host", map[string]any{"name": "Host app", "kind": "host", "host": map[string]any{"secret": hostSecret}, "match_rules": []string{"external_id"}, "on_no_match": "bind"}},
	} {
		if r := env.Admin("PUT", "/v1/apps/"+app.id, app.body); r.Status >= 300 && r.Status != 404 {
			t.Fatalf("app %s: %d %s", app.id, r.Status, r.Body)
		}
	}
	r := env.Admin("GET", "/v1/audit/events?limit=10000", nil)
	if r.Status != 200 || !bytes.Contains(r.Body, []byte("account_created")) {
		t.Fatalf("export: %d %s", r.Status, r.Body)
	}
	masterKey := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	for _, secret := range []string{password, password + "!", appSecret, hostSecret, testenv.AdminToken, masterKey, "0123456789abcdef0123456789abcdef"} {
		for _, form := range []string{secret, hex.EncodeToString([]byte(secret)), url.QueryEscape(secret)} {
			if bytes.Contains(r.Body, []byte(form)) {
				t.Fatalf("the export holds a secret (%q)", form)
			}
		}
	}
}
