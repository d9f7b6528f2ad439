package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/relay"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/devtools/testenv"
	"github.com/bindery/bindery/internal/server/natsrv"
	"github.com/bindery/bindery/projections"
)

// hookLog is a webhook receiver: the event types it was sent.
type hookLog struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, b)
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookLog) has(typ, subject string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.bodies {
		var ev struct{ Type, Subject string }
		if json.Unmarshal(b, &ev) == nil && ev.Type == typ && ev.Subject == subject {
			return true
		}
	}
	return false
}

// liveViews reads the server's views over the audit API, as binderyctl
// audit replay does.
type liveViews struct{ e *loginEnv }

func (l liveViews) Names(context.Context) ([]string, error) {
	var body struct{ Views []string }
	r := l.e.Admin("GET", "/v1/audit/views", nil)
	if r.Status != http.StatusOK {
		return nil, errors.New(string(r.Body))
	}
	return body.Views, json.Unmarshal(r.Body, &body)
}

func (l liveViews) Snapshot(_ context.Context, name string, min events.Position) (json.RawMessage, events.Position, error) {
	var body struct {
		Position string
		Snapshot json.RawMessage
	}
	path := "/v1/audit/views/" + url.PathEscape(name)
	if !min.IsZero() {
		path += "?min_position=" + min.String()
	}
	r := l.e.Admin("GET", path, nil)
	if r.Status != http.StatusOK {
		return nil, events.Position{}, errors.New(string(r.Body))
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return nil, events.Position{}, err
	}
	pos, err := events.ParsePosition(body.Position)
	return body.Snapshot, pos, err
}

// openSnapshot reads the projection snapshot on disk, opened with the
// server's snapshot key.
func openSnapshot(t *testing.T, e *loginEnv) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.App.Config.DataDir, "projections.snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := e.App.Keys.ServerSecret(context.Background(), "snapshot")
	if err != nil {
		t.Fatal(err)
	}
	box, err := secrets.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := box.Open(string(data), "projections-snapshot")
	if err != nil {
		t.Fatalf("open the snapshot: %v", err)
	}
	return string(plain)
}

// Done-when 2 of issue 12, in one realistic run: a person with a profile,
// a WeChat binding, a one-time code, a QR scan and a live session is
// erased. Afterwards the account reads as a tombstone, lookups by its old
// values find nothing and a new account takes them, the same WeChat user
// is a stranger, its tokens are refused, a NATS subscriber and a webhook
// got account_erased, audit verify is ok and a replay matches, the export
// marks its events erased, its data key has no revision left and the
// snapshot on disk does not hold the person.
func TestErasure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := l.Addr().String()
	l.Close()
	e := startLoginWith(t, map[string]string{"BINDERY_TRUSTED_PROXIES": "127.0.0.1/32", "BINDERY_NATS_LISTEN": natsAddr, "BINDERY_AUDIT_SEAL_INTERVAL": "0", "BINDERY_PUBLIC_RELAY": "on"})
	ctx := context.Background()

	// Downstream: a NATS subscriber as the downstream user, and a webhook.
	nc, err := nats.Connect("nats://"+natsrv.UserDownstream+":"+testenv.NATSDownstreamPassword+"@"+natsAddr, nats.Name("erasure-test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync(events.SubjectPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	hooks := &hookLog{}
	receiver := httptest.NewServer(hooks)
	t.Cleanup(receiver.Close)
	if r := e.Admin("PUT", "/v1/webhooks/crm", map[string]any{"url": receiver.URL, "secret": "erasure-hook-secret-0123456789", "events": []string{"account_erased"}}); r.Status != http.StatusCreated {
		t.Fatalf("webhook: %d %s", r.Status, r.Body)
	}

	run := runPersonalFlows(t, e)
	id := run.account
	login := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(run.appid, run.user)}, 200, "")
	if login["status"] != "OK" || login["account_id"] != id {
		t.Fatalf("login before the erasure: %v", login)
	}
	sessionToken := login["session_token"].(string)
	if r := e.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+run.idToken); r.Status != http.StatusOK {
		t.Fatalf("userinfo before the erasure: %d %s", r.Status, r.Body)
	}

	// The erasure.
	r := e.Admin("POST", "/v1/accounts/"+id+"/erase", nil)
	if r.Status != http.StatusOK || r.Map(t)["status"] != "erased" {
		t.Fatalf("erase: %d %s", r.Status, r.Body)
	}
	pos := r.Header.Get("X-Bindery-Position")

	// The snapshot on disk was replaced before the answer: it holds the
	// tombstone, none of the person's values.
	snap := openSnapshot(t, e)
	if !strings.Contains(snap, id) {
		t.Fatalf("the snapshot does not hold the tombstone")
	}
	person := []string{"林美华 Probe", "lin.meihua77", "meihua.lin77@example.cn", "+8613911112222", "crm-EXT-55771", "https://img.example/meihua-77.png", "dragonfly-probe-771", run.openid}
	for _, v := range person {
		for _, f := range forms(v) {
			if strings.Contains(snap, f) {
				t.Errorf("the snapshot still holds %q", v)
			}
		}
	}
	if !strings.Contains(snap, "Sync Person Probe") {
		t.Fatalf("the opened snapshot lacks the other person: is it the views?")
	}
	// The data key has no revision left.
	if gone, err := e.App.Keys.Erased(ctx, "account."+id); err != nil || !gone {
		t.Fatalf("data key erased: %v %v", gone, err)
	}

	// The public relay's stream holds nothing that names the account but
	// the account_erased itself (checked before the same WeChat user logs
	// in again below, as a stranger, whose new ticket is a copy of its own).
	erasedCopy := relay.SubjectPrefix + "account." + id + "." + events.AccountErasedName
	var left, unlinked []string
	publicDeadline := time.Now().Add(15 * time.Second)
	for {
		left, unlinked = left[:0], unlinked[:0]
		for _, m := range publicMessages(t, e) {
			switch {
			case strings.Contains(m.Subject, id) || strings.Contains(string(m.Data), id):
				left = append(left, m.Subject)
			case strings.Contains(string(m.Data), run.openid) || strings.Contains(string(m.Data), "+8613911112222"):
				unlinked = append(unlinked, m.Subject)
			}
		}
		if len(left) == 1 && left[0] == erasedCopy {
			break
		}
		if time.Now().After(publicDeadline) {
			t.Fatalf("bindery.public after the erasure holds, naming the account: %v (want only %s)", left, erasedCopy)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(unlinked) > 0 {
		// Known gap of the relay (reported): a bind ticket's copy names
		// no account, and is purged only when the event linking it was
		// relayed before the erasure.
		t.Logf("bindery.public keeps copies with the person's values that name no account: %v", unlinked)
	}

	// The account reads as a tombstone with no personal field.
	acc := e.read(id, pos)
	for k, v := range acc {
		switch k {
		case "id", "status", "has_password", "roles", "orgs", "created_at", "updated_at":
		case "bindings":
			if len(v.([]any)) != 0 {
				t.Errorf("erased account keeps bindings: %v", v)
			}
		default:
			t.Errorf("erased account keeps %s: %v", k, v)
		}
	}
	if acc["status"] != "erased" || acc["has_password"] != false {
		t.Fatalf("erased account: %v", acc)
	}
	// Lookups by its old values find nothing.
	for _, q := range []string{"phone=%2B8613911112222", "email=meihua.lin77@example.cn", "username=lin.meihua77", "external_id=crm-EXT-55771"} {
		if r := e.Admin("GET", "/v1/accounts?"+q, nil); r.Status != http.StatusOK || string(bytes.TrimSpace(r.Body)) != `{"accounts":[]}` {
			t.Errorf("lookup %s after the erasure: %d %s", q, r.Status, r.Body)
		}
	}
	if r := e.Admin("GET", "/v1/accounts?q=林美华", nil); strings.Contains(string(r.Body), id) {
		t.Errorf("a name search still finds the erased account: %s", r.Body)
	}
	// Its tokens are dead.
	if r := e.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+run.idToken); r.Status < 400 {
		t.Errorf("userinfo with the erased account's id_token: %d %s", r.Status, r.Body)
	}
	if r := refreshWith(e, sessionToken); r.Status < 400 {
		t.Errorf("refresh of the erased account's session: %d %s", r.Status, r.Body)
	}
	// The same WeChat user is a stranger now.
	again := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(run.appid, run.user)}, 200, "")
	if again["status"] != "SOCIAL_BIND" && again["status"] != "USER_REGISTER" || again["account_id"] != nil {
		t.Fatalf("the erased account's WeChat user logs in: %v", again)
	}
	// Updating or enabling the tombstone is refused; erasing it again is
	// harmless.
	if r := e.Admin("PATCH", "/v1/accounts/"+id, map[string]any{"display_name": "back"}); r.Status != http.StatusForbidden || r.Map(t)["code"] != "account_erased" {
		t.Errorf("update of an erased account: %d %s", r.Status, r.Body)
	}
	if r := e.Admin("POST", "/v1/accounts/"+id+"/enable", nil); r.Status != http.StatusForbidden {
		t.Errorf("enable of an erased account: %d %s", r.Status, r.Body)
	}
	if r := e.Admin("POST", "/v1/accounts/"+id+"/erase", nil); r.Status != http.StatusOK || r.Map(t)["status"] != "erased" {
		t.Errorf("second erase: %d %s", r.Status, r.Body)
	}

	// Downstream got account_erased, and it carries nothing personal.
	subject := events.SubjectPrefix + "account." + id + "." + events.AccountErasedName
	deadline := time.Now().Add(10 * time.Second)
	var erasedMsg *nats.Msg
	for erasedMsg == nil && time.Now().Before(deadline) {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		if m.Subject == subject {
			erasedMsg = m
		}
	}
	if erasedMsg == nil {
		t.Fatalf("no %s on NATS", subject)
	}
	if events.IsSealed(erasedMsg.Data) || !strings.Contains(string(erasedMsg.Data), `"data":{"account_id":"`+id+`","reason":"admin"}`) {
		t.Errorf("account_erased on NATS: %s", erasedMsg.Data)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return hooks.has("bindery.account_erased.v1", "account/"+id) })
	// A new account takes its values.
	if r := e.Admin("POST", "/v1/accounts", map[string]any{"username": "lin.meihua77", "email": "meihua.lin77@example.cn", "phone": "+8613911112222", "external_id": "crm-EXT-55771"}); r.Status != http.StatusCreated {
		t.Fatalf("a new account with the erased values: %d %s", r.Status, r.Body)
	}

	// The export keeps the account's events, each marked erased; none of
	// its sealed values opens any more.
	exp := e.Admin("GET", "/v1/audit/events?aggregate=account/"+id, nil)
	if exp.Status != http.StatusOK {
		t.Fatalf("export: %d %s", exp.Status, exp.Body)
	}
	var types []string
	sc := bufio.NewScanner(bytes.NewReader(exp.Body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev struct {
			Type   string
			Erased bool
			Data   json.RawMessage
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
		if events.IsSealed(ev.Data) != ev.Erased {
			t.Errorf("export line of %s: sealed %v, marked erased %v", ev.Type, events.IsSealed(ev.Data), ev.Erased)
		}
		if opened, _, err := events.OpenData(e.App.Keys, ev.Data, events.ErasedMarker); err != nil || strings.Contains(string(opened), "林美华") {
			t.Errorf("%s opens after the erasure: %s %v", ev.Type, opened, err)
		}
	}
	if len(types) < 3 || types[0] != "bindery.account_created.v1" || types[len(types)-1] != "bindery.account_erased.v1" {
		t.Fatalf("export of the erased account: %v", types)
	}

	// audit verify is ok; a replay from the history matches the live views.
	if r := e.Admin("GET", "/v1/audit/verify?seal=true", nil); r.Status != http.StatusOK || r.Map(t)["ok"] != true {
		t.Fatalf("audit verify after the erasure: %d %s", r.Status, r.Body)
	}
	reg := events.Catalogue()
	reg.UseSealer(e.App.Keys)
	rep, err := audit.Replay(ctx, &audit.Rebuild{JS: e.App.Store.JetStream(), Registry: reg, Views: projections.NewSet().All()}, liveViews{e})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("audit replay after the erasure differs: %+v", rep.Views)
	}
}

// publicMessages reads every message of the public relay's stream.
func publicMessages(t *testing.T, e *loginEnv) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.App.Store.JetStream().Stream(ctx, relay.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func refreshWith(e *loginEnv, tok string) testenv.Response {
	return e.Do("POST", "/v1/sessions/refresh", map[string]string{"session_token": tok})
}
