package downstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/devtools/testenv"
	"github.com/bindery/bindery/internal/server/natsrv"
)

// start runs bindery with its embedded NATS listening on addr (a free
// loopback port when ""), as "bindery serve" does for downstream clients.
func start(t *testing.T, dir, addr string) (*testenv.Env, string) {
	t.Helper()
	if addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
	}
	// No passwords given: the server generates them into its data dir,
	// where an operator reads them.
	env := testenv.Start(t, dir, map[string]string{
		"BINDERY_NATS_LISTEN": addr, "BINDERY_AUDIT_SEAL_INTERVAL": "0",
		"BINDERY_NATS_PASSWORD": "", "BINDERY_NATS_DOWNSTREAM_PASSWORD": "",
	})
	return env, addr
}

// downstreamPassword is what an operator hands a downstream system.
func downstreamPassword(t *testing.T, env *testenv.Env) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.App.Config.DataDir, natsrv.DownstreamPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// connect connects as the NATS user downstream of env's server.
func connect(t *testing.T, env *testenv.Env, addr string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	url := "nats://" + natsrv.UserDownstream + ":" + downstreamPassword(t, env) + "@" + addr
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("downstream-test")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func createAccount(t *testing.T, env *testenv.Env, name string) string {
	t.Helper()
	r := env.Admin("POST", "/v1/accounts", map[string]any{"display_name": name})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	return r.Map(t)["id"].(string)
}

// cloudEvent is the public shape of an event.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Actor           string          `json:"actor"`
	PrevHash        *string         `json:"prevhash"`
	Data            json.RawMessage `json:"data"`
}

// A plain core-NATS subscription with wildcards receives role_granted
// (and account_created) live, as CloudEvents whose id is the Nats-Msg-Id.
func TestCoreSubscriptionReceivesLive(t *testing.T) {
	env, addr := start(t, "", "")
	nc := connect(t, env, addr)
	granted, err := nc.SubscribeSync("bindery.events.*.*.role_granted")
	if err != nil {
		t.Fatal(err)
	}
	created, err := nc.SubscribeSync("bindery.events.account.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	id := createAccount(t, env, "Downstream")
	if r := env.Admin("PUT", "/v1/roles/auditor", map[string]any{"permissions": []string{"report:read"}}); r.Status >= 300 {
		t.Fatalf("role: %d %s", r.Status, r.Body)
	}
	if r := env.Admin("POST", "/v1/accounts/"+id+"/roles", map[string]any{"role": "auditor"}); r.Status >= 300 {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	m, err := granted.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ev cloudEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	var data struct {
		AccountID string `json:"account_id"`
		Role      string `json:"role"`
	}
	_ = json.Unmarshal(ev.Data, &data)
	if m.Subject != "bindery.events.account."+id+".role_granted" || ev.SpecVersion != "1.0" || ev.Type != "bindery.role_granted.v1" ||
		ev.Subject != "account/"+id || ev.Source != "urn:bindery" || ev.DataContentType != "application/json" || ev.PrevHash == nil ||
		ev.ID != m.Header.Get("Nats-Msg-Id") || data.AccountID != id || data.Role != "auditor" || ev.Time.IsZero() || ev.Actor == "" {
		t.Fatalf("role_granted: subject %s, %s", m.Subject, m.Data)
	}
	m, err = created.NextMsg(5 * time.Second)
	if err != nil || m.Subject != "bindery.events.account."+id+".account_created" {
		t.Fatalf("account_created: %v %v", m, err)
	}
	// Internal subjects (uniqueness claims, checkpoints) stay outside
	// bindery.events.>: nothing else arrived on the account subjects.
	for {
		m, err := created.NextMsg(200 * time.Millisecond)
		if errors.Is(err, nats.ErrTimeout) {
			break
		}
		if err != nil || m.Subject != "bindery.events.account."+id+".role_granted" {
			t.Fatalf("unexpected: %v %v", m, err)
		}
	}
}

// fetchIDs pulls up to n messages (waiting at most wait) and returns the
// CloudEvent ids; ack says whether to acknowledge them.
func fetchIDs(t *testing.T, cons jetstream.Consumer, n int, wait time.Duration, ack bool) []string {
	t.Helper()
	var out []string
	deadline := time.Now().Add(wait)
	for len(out) < n && time.Now().Before(deadline) {
		batch, err := cons.Fetch(n-len(out), jetstream.FetchMaxWait(time.Until(deadline)))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			var ev cloudEvent
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev.ID)
			if ack {
				if err := m.DoubleAck(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return out
}

// eventIDs maps account ids to the ids of their account_created events.
func createdIDs(t *testing.T, env *testenv.Env, accounts []string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, id := range accounts {
		r := env.Admin("GET", "/v1/audit/events?type=account_created&aggregate=account/"+id, nil)
		var ev cloudEvent
		if err := json.Unmarshal([]byte(firstLine(string(r.Body))), &ev); err != nil || ev.ID == "" {
			t.Fatalf("audit lookup of %s: %s", id, r.Body)
		}
		out[ev.ID] = true
	}
	return out
}

func firstLine(s string) string {
	for i := range s {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// A durable JetStream consumer with a subject filter resumes where it
// stopped: after its client restarts (unacked messages come again, acked
// ones never) and after the server restarts.
func TestDurableConsumerResumes(t *testing.T) {
	dir := t.TempDir()
	env, addr := start(t, dir, "")
	ctx := context.Background()
	consumer := func() jetstream.Consumer {
		js, err := jetstream.New(connect(t, env, addr))
		if err != nil {
			t.Fatal(err)
		}
		cons, err := js.CreateOrUpdateConsumer(ctx, "BINDERY_HISTORY", jetstream.ConsumerConfig{
			Durable: "crm-sync", FilterSubject: "bindery.events.account.*.account_created",
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second, DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			t.Fatal(err)
		}
		return cons
	}
	var accounts []string
	create := func(n int) {
		for i := 0; i < n; i++ {
			accounts = append(accounts, createAccount(t, env, fmt.Sprintf("D%d", len(accounts))))
		}
	}
	got := map[string]int{}
	take := func(ids []string) {
		for _, id := range ids {
			got[id]++
		}
	}

	create(5)
	cons := consumer()
	take(fetchIDs(t, cons, 5, 5*time.Second, true))

	// The client takes one message and dies before acking it.
	create(3)
	unacked := fetchIDs(t, cons, 1, 5*time.Second, false)
	if len(unacked) != 1 {
		t.Fatalf("fetched %v", unacked)
	}
	// A new client (same durable) gets it again after AckWait, then the rest.
	cons = consumer()
	again := fetchIDs(t, cons, 3, 10*time.Second, true)
	if len(again) != 3 || !contains(again, unacked[0]) {
		t.Fatalf("after the client restart: %v (unacked %s)", again, unacked[0])
	}
	take(again)

	// The server restarts; events written after it come, nothing twice.
	env.Close()
	env, _ = start(t, dir, addr)
	create(2)
	cons = consumer()
	take(fetchIDs(t, cons, 2, 10*time.Second, true))
	if extra := fetchIDs(t, cons, 1, 1500*time.Millisecond, true); len(extra) != 0 {
		t.Fatalf("redelivered after acks: %v", extra)
	}

	want := createdIDs(t, env, accounts)
	if len(got) != len(want) {
		t.Fatalf("received %d distinct events, want %d", len(got), len(want))
	}
	for id, n := range got {
		if !want[id] || n != 1 {
			t.Fatalf("event %s received %d times (known: %v)", id, n, want[id])
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
