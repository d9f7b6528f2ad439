package downstream_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// Issue 13: the hash chain is enforced when read. A forged role_granted
// with an empty prevhash, published straight to JetStream by someone
// holding Bindery's own NATS access (here: the server's raw handle), is
// stored by the stream but not applied to the account's view; it is
// counted, logged at ERROR with subject and sequence, turns /readyz
// degraded, no checkpoint covers it, and a command on the account answers
// 503 chain_broken instead of folding it.
func TestForgedChainBreakNotApplied(t *testing.T) {
	env := testenv.Start(t, "", map[string]string{"BINDERY_AUDIT_SEAL_INTERVAL": "0"})
	id := createAccount(t, env, "Target")
	if r := env.Admin("POST", "/v1/audit/seal", nil); r.Status != 200 {
		t.Fatalf("seal: %d %s", r.Status, r.Body)
	}

	forged, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": "forged-1", "source": "urn:bindery", "type": "bindery.role_granted.v1",
		"subject": "account/" + id, "time": time.Now().UTC(), "datacontenttype": "application/json",
		"actor": "attacker", "prevhash": "", "data": map[string]any{"account_id": id, "role": "superadmin"},
	})
	subject := "bindery.events.account." + id + ".role_granted"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := env.App.Store.JetStream().Publish(ctx, subject, forged)
	if err != nil {
		t.Fatal(err)
	}
	// A legitimate event after it, on another aggregate, is applied: the
	// views go on.
	other := createAccount(t, env, "Bystander")

	testenv.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(env.Logs.String(), `"seq":`+itoa(ack.Sequence))
	})
	logs := env.Logs.String()
	var line string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "hash chain") && strings.Contains(l, `"seq":`+itoa(ack.Sequence)) {
			line = l
		}
	}
	if !strings.Contains(line, `"level":"ERROR"`) || !strings.Contains(line, subject) {
		t.Fatalf("no ERROR log naming the subject and sequence: %q", line)
	}
	if r := env.Admin("GET", "/v1/accounts/"+id, nil); r.Status != 200 || strings.Contains(string(r.Body), "superadmin") {
		t.Fatalf("account: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return env.Admin("GET", "/v1/accounts/"+other, nil).Status == 200 })

	if m := get(t, env, "/metrics"); !strings.Contains(m, `bindery_chain_breaks_total{stream="history"} 1`) {
		t.Fatalf("metric missing:\n%s", grep(m, "bindery_chain"))
	}
	r := env.Do("GET", "/readyz", nil)
	if r.Status != 503 || !strings.Contains(string(r.Body), `"status":"degraded"`) ||
		!strings.Contains(string(r.Body), "hash chain") || !strings.Contains(string(r.Body), subject) {
		t.Fatalf("readyz: %d %s", r.Status, r.Body)
	}

	// The command on the account refuses to fold the break.
	r = env.Admin("PATCH", "/v1/accounts/"+id, map[string]any{"display_name": "Renamed"})
	if r.Status != 503 || r.Map(t)["code"] != "chain_broken" {
		t.Fatalf("command on the broken aggregate: %d %s", r.Status, r.Body)
	}

	// No checkpoint covers the forged event; the sealer says why.
	r = env.Admin("POST", "/v1/audit/seal", nil)
	if r.Status != 200 {
		t.Fatalf("seal: %d %s", r.Status, r.Body)
	}
	var got struct {
		Checkpoints []struct {
			Stream string `json:"stream"`
			ToSeq  uint64 `json:"to_seq"`
		} `json:"checkpoints"`
	}
	r.JSON(t, &got)
	for _, c := range got.Checkpoints {
		if c.Stream == "history" && c.ToSeq >= ack.Sequence {
			t.Fatalf("a checkpoint covers the forged event at %d: %s", ack.Sequence, r.Body)
		}
	}
	if m := get(t, env, "/metrics"); !strings.Contains(m, `bindery_audit_seal_held_total{stream="history"} 1`) {
		t.Fatalf("seal held metric missing:\n%s", grep(m, "bindery_audit_seal"))
	}
	if !strings.Contains(env.Logs.String(), "audit seal stops before") {
		t.Fatal("the sealer did not log why it stopped")
	}

	// A restart (from the snapshot written at close) keeps the break known.
	dir := env.App.Config.DataDir
	env.Close()
	env = testenv.Start(t, dir, map[string]string{"BINDERY_AUDIT_SEAL_INTERVAL": "0"})
	if r := env.Do("GET", "/readyz", nil); r.Status != 503 || !strings.Contains(string(r.Body), subject) {
		t.Fatalf("readyz after restart: %d %s", r.Status, r.Body)
	}
	if r := env.Admin("GET", "/v1/accounts/"+id, nil); r.Status != 200 || strings.Contains(string(r.Body), "superadmin") {
		t.Fatalf("account after restart: %d %s", r.Status, r.Body)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func get(t *testing.T, env *testenv.Env, path string) string {
	t.Helper()
	resp, err := env.Client.Get(env.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d", path, resp.StatusCode)
	}
	return string(b)
}

func grep(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
