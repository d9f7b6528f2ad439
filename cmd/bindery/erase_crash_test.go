package main_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/crypto/datakeys"
	"github.com/bindery/bindery/internal/crypto/secrets"
)

const (
	crashMasterKey    = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // start's
	crashNATSPassword = "crash-test-nats-password-0123456789"
)

// person is what the erased account was created with.
var person = map[string]string{
	"username": "erase.me77", "display_name": "Erase Me Probe-77", "phone": "+8613977770077",
	"email": "erase.me77@example.com", "external_id": "crm-ERASE-77",
}

// erasureNode is one run of the binary on a data dir, with its embedded
// NATS open on loopback so that the test can read the data keys' bucket.
type erasureNode struct {
	t              *testing.T
	bin, dir, http string
	nats           string
}

func (n *erasureNode) start(extra ...string) *proc {
	return start(n.t, n.bin, n.dir, n.http, append([]string{
		"BINDERY_NATS_LISTEN=" + n.nats, "BINDERY_NATS_PASSWORD=" + crashNATSPassword,
		"BINDERY_NATS_DOWNSTREAM_PASSWORD=crash-test-downstream-0123456789",
	}, extra...)...)
}

func (n *erasureNode) url(path string) string { return "http://" + n.http + path }

// state is what the test can observe of the account after a restart.
type state struct {
	status   string // of GET /v1/accounts/{id}
	profile  bool   // every profile value reads back
	found    int    // lookups by the old values that find the account (of 4)
	keyGone  bool   // no revision of the data key left in the bucket
	snapshot string // "person" when the snapshot on disk holds the person, "clean" when not
}

func (n *erasureNode) observe(id string) state {
	t := n.t
	t.Helper()
	var s state
	status, m, err := call("GET", n.url("/v1/accounts/"+id), "")
	if err != nil || status != 200 {
		t.Fatalf("read %s: %d %v %v", id, status, m, err)
	}
	s.status, _ = m["status"].(string)
	s.profile = true
	for k, v := range person {
		s.profile = s.profile && m[k] == v
	}
	for _, k := range []string{"username", "phone", "email", "external_id"} {
		status, m, _ := call("GET", n.url("/v1/accounts?"+k+"="+url.QueryEscape(person[k])), "")
		if status == 200 && strings.Contains(fmt.Sprint(m), id) {
			s.found++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect("nats://"+n.nats, nats.UserInfo("bindery", crashNATSPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, datakeys.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := kv.History(ctx, "account."+id)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		s.keyGone = true
	case err != nil:
		t.Fatal(err)
	default:
		s.keyGone = true
		for _, e := range hist {
			if e.Operation() == jetstream.KeyValuePut || len(e.Value()) > 0 {
				s.keyGone = false
			}
		}
	}
	s.snapshot = n.snapshot(ctx, js)
	return s
}

// snapshot opens the projection snapshot on disk with the server's
// snapshot key and says whether it holds the person.
func (n *erasureNode) snapshot(ctx context.Context, js jetstream.JetStream) string {
	t := n.t
	data, err := os.ReadFile(filepath.Join(n.dir, "projections.snapshot.json"))
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	master, _ := base64.StdEncoding.DecodeString(crashMasterKey)
	mbox, err := secrets.NewBox(master)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := datakeys.Open(ctx, js, mbox, datakeys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	skey, err := keys.ServerSecret(ctx, "snapshot")
	if err != nil {
		t.Fatal(err)
	}
	box, err := secrets.NewBox(skey)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := box.Open(string(data), "projections-snapshot")
	if err != nil {
		t.Fatalf("open the snapshot: %v", err)
	}
	for _, v := range person {
		if strings.Contains(string(plain), v) {
			return "person"
		}
	}
	return "clean"
}

var (
	erasedWhole = state{status: "erased", keyGone: true, snapshot: "clean"}
	untouched   = state{status: "active", profile: true, found: 4, snapshot: "person"}
)

// settle polls until the account is in one of the two whole states (the
// start-up reconciler runs beside the server), and answers the last one
// seen.
func (n *erasureNode) settle(id string) state {
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := n.observe(id)
		if s == erasedWhole || s == untouched || time.Now().After(deadline) {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// prepare starts a node on a fresh data dir, creates the person and stops
// gracefully, so that the snapshot on disk holds them.
func prepare(t *testing.T, bin string) (*erasureNode, string) {
	n := &erasureNode{t: t, bin: bin, dir: t.TempDir(), http: freeAddr(t), nats: freeAddr(t)}
	p := n.start()
	body := fmt.Sprintf(`{"username":%q,"display_name":%q,"phone":%q,"email":%q,"external_id":%q}`,
		person["username"], person["display_name"], person["phone"], person["email"], person["external_id"])
	status, m, err := call("POST", n.url("/v1/accounts"), body)
	if err != nil || status != 201 {
		t.Fatalf("create: %d %v %v", status, m, err)
	}
	id := m["id"].(string)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	return n, id
}

// Done-when 3 of issue 12: a bindery process killed with SIGKILL in the
// middle of an erasure — after account_erased is stored, after the data
// key is destroyed, after the snapshot is replaced (a test hook makes the
// process kill itself there), or at a random moment from outside — is
// restarted, and then either all of the erasure holds (tombstone, lookups
// empty, key without a revision, snapshot without the person, the values
// free for a new account) or none of it (the account as it was).
func TestSIGKILLDuringErasureIsAllOrNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, step := range []string{"appended", "key", "snapshot"} {
		t.Run("killed after "+step, func(t *testing.T) {
			n, id := prepare(t, bin)
			p := n.start("BINDERY_TEST_ERASE_CRASH=" + step)
			if status, m, err := call("POST", n.url("/v1/accounts/"+id+"/erase"), ""); err == nil {
				t.Fatalf("the erasure answered %d %v: the process did not die after %s", status, m, step)
			}
			err := p.cmd.Wait()
			if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("the process ended with %v, not SIGKILL", err)
			}
			n.start()
			if got := n.settle(id); got != erasedWhole {
				t.Fatalf("after a SIGKILL after %s and a restart: %+v, want the whole erasure %+v", step, got, erasedWhole)
			}
			n.claimable(t)
		})
	}
	// From outside, at random moments around the request: whichever side
	// of the append the kill lands, the outcome is whole.
	seen := map[string]int{}
	for i := 0; i < 4; i++ {
		n, id := prepare(t, bin)
		p := n.start()
		go func() { _, _, _ = call("POST", n.url("/v1/accounts/"+id+"/erase"), "") }()
		time.Sleep(time.Duration(rand.IntN(15_000)) * time.Microsecond)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
		n.start()
		switch got := n.settle(id); got {
		case erasedWhole:
			seen["erased"]++
			n.claimable(t)
		case untouched:
			seen["untouched"]++
		default:
			t.Fatalf("killed at a random moment (run %d): half an erasure after restart: %+v", i, got)
		}
	}
	t.Logf("random kills: %v", seen)
}

// claimable: a new account takes the erased person's values.
func (n *erasureNode) claimable(t *testing.T) {
	t.Helper()
	body := fmt.Sprintf(`{"username":%q,"phone":%q,"email":%q,"external_id":%q}`, person["username"], person["phone"], person["email"], person["external_id"])
	if status, m, err := call("POST", n.url("/v1/accounts"), body); err != nil || status != 201 {
		t.Fatalf("a new account with the erased values: %d %v %v", status, m, err)
	}
}
