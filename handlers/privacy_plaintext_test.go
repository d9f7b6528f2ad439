package handlers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/adapters/relay"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// privacyRun is a realistic run over one server: accounts created (admin
// API) and synced (bulk sync), a WeChat user bound to an account with a
// one-time code, a QR login started from a PC with a user agent and
// scanned. It answers the personal values it used, the phone numbers,
// e-mails and usernames among them by kind.
type privacyRun struct {
	values  []string            // every personal value
	hashed  map[string][]string // claim kind → values whose hashes must not appear
	account string              // the admin-created account
	idToken string              // its id_token, after the WeChat bind
	appid   string
	user    string // the wxsim user bound to it
	openid  string // its openid in app shop
}

func runPersonalFlows(t *testing.T, e *loginEnv) privacyRun {
	t.Helper()
	run := privacyRun{hashed: map[string][]string{}}
	keep := func(kind string, vs ...string) {
		run.values = append(run.values, vs...)
		if kind != "" {
			run.hashed[kind] = append(run.hashed[kind], vs...)
		}
	}
	// An account over the admin API, with every profile field.
	keep("username", "lin.meihua77")
	keep("email", "meihua.lin77@example.cn")
	keep("phone", "+8613911112222")
	keep("", "林美华 Probe", "crm-EXT-55771", "https://img.example/meihua-77.png", "dragonfly-probe-771", "+86139****2222")
	run.account = e.account(map[string]any{
		"username": "lin.meihua77", "display_name": "林美华 Probe", "email": "meihua.lin77@example.cn",
		"phone": "+8613911112222", "external_id": "crm-EXT-55771", "avatar_url": "https://img.example/meihua-77.png",
		"attributes": map[string]any{"nickname": "dragonfly-probe-771"},
	})
	// A bulk sync of a customer's export.
	r := e.Admin("PUT", "/v1/apps/crm", map[string]any{
		"name": "CRM", "kind": "host", "host": map[string]string{"secret": "host-secret-0123456789"},
		"field_mapping": crmMapping,
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("put crm: %d %s", r.Status, r.Body)
	}
	keep("username", "syncprobe9001")
	keep("email", "sync.probe9001@example.com")
	keep("phone", "+8613800009001")
	keep("", "E-PROBE-9001", "Sync Person Probe", "dept-probe-4242")
	sync := e.Admin("POST", "/v1/apps/crm/sync/accounts",
		`{"empNo":"E-PROBE-9001","name":"Sync Person Probe","mobile":"+86 138 0000 9001","mail":"Sync.Probe9001@Example.com","login":"syncprobe9001","dept":"dept-probe-4242"}`+"\n",
		"Content-Type", "application/x-ndjson")
	if sync.Status != http.StatusOK || !strings.Contains(string(sync.Body), `"created":1`) {
		t.Fatalf("sync: %d %s", sync.Status, sync.Body)
	}
	// A WeChat user binds to the account with a one-time code to its phone.
	run.appid = e.wechatApp("shop", "op-privacy", map[string]any{"match_rules": []string{"openid", "unionid", "phone"}})
	run.user = e.simUser("+8613722223333")
	seen := e.simSees(run.appid, run.user)
	run.openid = seen["openid"].(string)
	keep("", run.openid, seen["unionid"].(string))
	out := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(run.appid, run.user)}, 200, "")
	if out["status"] != "SOCIAL_BIND" {
		t.Fatalf("login: %v", out)
	}
	e.post("/v1/bind/otp/send", map[string]any{"bind_ticket": out["bind_ticket"], "channel": "sms", "to": "+8613911112222"}, 202, "")
	bound := e.post("/v1/bind/otp/verify", map[string]any{"bind_ticket": out["bind_ticket"], "to": "+8613911112222", "otp": e.hook.last(t, "+8613911112222")}, 200, "")
	run.idToken, _ = bound["id_token"].(string)
	if bound["account_id"] != run.account || run.idToken == "" {
		t.Fatalf("bind: %v", bound)
	}
	// A PC starts a QR login; the bound user scans it.
	if r := e.Admin("PUT", "/v1/apps/desk", map[string]any{"kind": "host", "host": map[string]any{"secret": "host-secret-0123456789abcdef"}}); r.Status != http.StatusCreated {
		t.Fatalf("put desk: %d %s", r.Status, r.Body)
	}
	keep("", "Mozilla/5.0 (PrivacyProbe UA 4711)", "203.0.113.47")
	qr := e.Do("POST", "/v1/apps/desk/qr", nil, "User-Agent", "Mozilla/5.0 (PrivacyProbe UA 4711)", "X-Forwarded-For", "203.0.113.47")
	if qr.Status != http.StatusCreated {
		t.Fatalf("start qr: %d %s", qr.Status, qr.Body)
	}
	qrID := qr.Map(t)["qr_id"].(string)
	if s := e.Do("POST", "/v1/qr/"+qrID+"/scan", nil, "Authorization", "Bearer "+run.idToken); s.Status != http.StatusOK {
		t.Fatalf("scan: %d %s", s.Status, s.Body)
	}
	return run
}

// forms are the ways a value could sit in a file: as is, and JSON-escaped.
func forms(v string) []string {
	out := []string{v}
	if b, _ := json.Marshal(v); string(b[1:len(b)-1]) != v {
		out = append(out, string(b[1:len(b)-1]))
	}
	ascii := strings.Builder{}
	for _, r := range v {
		if r < 128 {
			ascii.WriteRune(r)
		} else {
			ascii.WriteString(`\u` + strings.ToLower(hex.EncodeToString([]byte{byte(r >> 8), byte(r)})))
		}
	}
	if ascii.String() != v {
		out = append(out, ascii.String())
	}
	return out
}

// plainHashes are the unkeyed SHA-256 hex digests an index could name a
// value by (whole, and the 32-digit prefixes claim subjects use).
func plainHashes(kind, v string) []string {
	var out []string
	for _, in := range []string{v, strings.ToLower(v), kind + "\x00" + v, kind + "\x00" + strings.ToLower(v), "sms\x00" + v, "email\x00" + v} {
		s := sha256.Sum256([]byte(in))
		h := hex.EncodeToString(s[:])
		out = append(out, h, h[:32])
	}
	return out
}

// Done-when 1 of issue 12: after a realistic run, no file under the data
// dir (streams, KV buckets, the projection snapshot) and no log line holds
// a personal value in plaintext, or a plain SHA-256 of a phone number,
// e-mail or username.
func TestNoPersonalDataAtRest(t *testing.T) {
	e := startLoginWith(t, map[string]string{"BINDERY_TRUSTED_PROXIES": "127.0.0.1/32"})
	run := runPersonalFlows(t, e)
	// The values are there, opened, for the admin: the run did what it says.
	acc := e.read(run.account, "")
	if acc["display_name"] != "林美华 Probe" || acc["phone"] != "+8613911112222" || !hasBinding(acc, "openid", "shop", run.openid) {
		t.Fatalf("account read: %v", acc)
	}
	types := map[string]bool{}
	for _, m := range allRecords(t, e) {
		types[m.Envelope.Type] = true
	}
	for _, want := range []string{"bindery.account_created.v1", "bindery.identity_bound.v1", "bindery.otp_sent.v1", "bindery.qr_created.v1", "bindery.qr_scanned.v1", "bindery.ticket_issued.v1"} {
		if !types[want] {
			t.Errorf("no %s stored", want)
		}
	}
	for _, l := range plaintextAtRest(t, e, run) {
		t.Error(l.String())
	}
}

// leak is a file (or the log) holding what it must not.
type leak struct{ file, what string }

func (l leak) String() string { return l.file + " holds " + l.what }

// plaintextAtRest stops the server and reads every file under its data
// dir and its log: each personal value of run in plaintext, and each plain
// SHA-256 of one, is a leak.
func plaintextAtRest(t *testing.T, e *loginEnv, run privacyRun) []leak {
	t.Helper()
	var leaks []leak
	dir := e.App.Config.DataDir
	e.Close() // the last snapshot is written, the streams flushed

	files := map[string][]byte{"the server's log": []byte(e.Logs.String())}
	var sawSnapshot, sawKeys bool
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel] = data
		sawSnapshot = sawSnapshot || strings.Contains(rel, "snapshot")
		sawKeys = sawKeys || strings.Contains(rel, "KV_BINDERY_DATAKEYS")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawSnapshot || !sawKeys || len(files) < 10 {
		t.Fatalf("scanned %d files (snapshot %v, data keys %v)", len(files), sawSnapshot, sawKeys)
	}
	for name, data := range files {
		text := string(data)
		for _, v := range run.values {
			for _, f := range forms(v) {
				if strings.Contains(text, f) {
					leaks = append(leaks, leak{name, fmt.Sprintf("the personal value %q in plaintext", v)})
				}
			}
		}
		for kind, vs := range run.hashed {
			for _, v := range vs {
				for _, h := range plainHashes(kind, v) {
					if strings.Contains(text, h) {
						leaks = append(leaks, leak{name, fmt.Sprintf("a plain SHA-256 of the %s %q", kind, v)})
					}
				}
			}
		}
	}
	return leaks
}

// With the public relay on (BINDERY_PUBLIC_RELAY), the opened copies are
// the one place at rest that holds personal values: every other file is
// as clean as with the relay off.
func TestRelayOpensPersonalDataOnlyInItsStream(t *testing.T) {
	e := startLoginWith(t, map[string]string{"BINDERY_TRUSTED_PROXIES": "127.0.0.1/32", "BINDERY_PUBLIC_RELAY": "on"})
	run := runPersonalFlows(t, e)
	stored := 0
	for _, m := range allRecords(t, e) {
		if m.Envelope.Type != "" {
			stored++
		}
	}
	// Every event copied before the server stops.
	testenv.Eventually(t, 20*time.Second, func() bool {
		st, err := e.App.Store.JetStream().Stream(context.Background(), relay.Stream)
		if err != nil {
			return false
		}
		info, err := st.Info(context.Background())
		return err == nil && info.State.Msgs >= uint64(stored)
	})
	inPublic := 0
	for _, l := range plaintextAtRest(t, e, run) {
		if !strings.Contains(l.file, "streams/"+relay.Stream+"/") {
			t.Error(l.String())
			continue
		}
		inPublic++
	}
	if inPublic == 0 {
		t.Fatal("the relay's stream holds no opened value: the relay did not run")
	}
}
