package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/delivery"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/crypto/datakeys"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/internal/devtools/natstest"
	"github.com/bindery/bindery/internal/devtools/testenv"
	"github.com/bindery/bindery/internal/devtools/wxsim"
	bserver "github.com/bindery/bindery/internal/server"
	"github.com/bindery/bindery/internal/server/config"
)

// Secrets the rotation test registers; none may appear in the tool's output.
const (
	rotAppSecret    = "wechat-app-secret-0123456789"
	rotClientSecret = "oidc-client-secret-0123456789"
	rotHookSecret   = "webhook-secret-0123456789abcdef"
	rotPassword     = "correct horse battery staple"
)

// world is what a rotation test creates before the rotation and checks
// after it: a WeChat app (its secret sealed in the history), a person who
// logged in through it (login keys, a session, signed tokens), accounts
// with sealed personal fields and a password hash, one erased, an OIDC
// client and a webhook with secrets.
type world struct {
	t       *testing.T
	dir     string
	vars    map[string]string // server settings besides the master key
	sim     *httptest.Server
	appid   string
	user    string // the wxsim user
	hook    string // the webhook receiver's URL
	natsURL string // where binderyctl reaches the server's NATS
	hooked  chan []byte
	hookMu  sync.Mutex
	bad     int // deliveries with a bad signature

	person, personToken string
	ada, erased         string
}

func newWorld(t *testing.T, vars map[string]string) *world {
	w := &world{t: t, dir: t.TempDir(), appid: "wxrotate", hooked: make(chan []byte, 64)}
	w.sim = httptest.NewServer(wxsim.New(wxsim.Options{}))
	t.Cleanup(w.sim.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !delivery.Verify([]byte(rotHookSecret), body, r.Header.Get(delivery.HeaderSignature)) {
			w.hookMu.Lock()
			w.bad++
			w.hookMu.Unlock()
			rw.WriteHeader(http.StatusUnauthorized)
			return
		}
		select {
		case w.hooked <- body:
		default:
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	w.hook = hook.URL
	// One issuer across restarts (testenv would take each listener's URL),
	// so that tokens from before the rotation are this server's.
	w.vars = map[string]string{"BINDERY_WECHAT_API_BASE": w.sim.URL, "BINDERY_AUDIT_SEAL_INTERVAL": "0", "BINDERY_ISSUER": "http://bindery.test"}
	for k, v := range vars {
		w.vars[k] = v
	}
	return w
}

// start runs bindery on the world's data dir with only the given master key.
func (w *world) start(key string) *testenv.Env {
	w.t.Helper()
	vars := map[string]string{secrets.EnvVar: key}
	for k, v := range w.vars {
		vars[k] = v
	}
	return testenv.Start(w.t, w.dir, vars)
}

func (w *world) simCall(path string, body any) map[string]any {
	w.t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(w.sim.URL+path, "application/json", bytes.NewReader(data))
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode >= 300 {
		w.t.Fatalf("wxsim %s: %d %v %v", path, resp.StatusCode, out, err)
	}
	return out
}

func must(t *testing.T, r testenv.Response, status int, what string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d %s", what, r.Status, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.Map(t)
}

// seed creates the world's data through the server.
func (w *world) seed(env *testenv.Env) {
	t := w.t
	t.Helper()
	w.simCall("/sim/apps", map[string]any{"appid": w.appid, "secret": rotAppSecret})
	must(t, env.Admin("PUT", "/v1/apps/mini", map[string]any{"kind": "wechat", "name": "Mini",
		"wechat": map[string]any{"appid": w.appid, "secret": rotAppSecret}, "match_rules": []string{"openid"}, "on_no_match": "register"}), 201, "put app")
	must(t, env.Admin("PUT", "/v1/webhooks/crm", map[string]any{"url": w.hook, "secret": rotHookSecret, "events": []string{"account_created"}}), 201, "put webhook")
	must(t, env.Admin("PUT", "/v1/oidc/clients/wiki", map[string]any{"name": "Wiki", "app": "mini", "type": "confidential",
		"secret": rotClientSecret, "redirect_uris": []string{"https://wiki.example.com/cb"}}), 201, "put client")
	w.user = w.simCall("/sim/users", map[string]any{"nickname": "Rota"})["user"].(string)
	ans := must(t, env.Do("POST", "/v1/apps/mini/login/code", map[string]string{"code": w.code()}), 200, "first login")
	if ans["status"] != "USER_REGISTER" {
		t.Fatalf("first login: %v", ans)
	}
	reg := must(t, env.Do("POST", "/v1/register", map[string]any{"bind_ticket": ans["bind_ticket"], "display_name": "Rota Person"}), 200, "register")
	w.person, w.personToken = reg["account_id"].(string), reg["id_token"].(string)
	w.ada = must(t, env.Admin("POST", "/v1/accounts", map[string]any{"username": "ada", "display_name": "Ada Lovelace",
		"phone": "+8613900000001", "password": rotPassword}), 201, "create ada")["id"].(string)
	w.erased = must(t, env.Admin("POST", "/v1/accounts", map[string]any{"display_name": "Gone Person", "phone": "+8613900000002"}), 201, "create")["id"].(string)
	must(t, env.Admin("POST", "/v1/accounts/"+w.erased+"/erase", nil), 200, "erase")
	w.delivered("account_created")
}

func (w *world) code() string {
	return w.simCall("/sim/login", map[string]any{"appid": w.appid, "user": w.user})["code"].(string)
}

// delivered waits for a webhook delivery containing want, signed with the
// webhook's secret (so the secret opened).
func (w *world) delivered(want string) {
	w.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case b := <-w.hooked:
			if strings.Contains(string(b), want) {
				return
			}
		case <-deadline:
			w.hookMu.Lock()
			defer w.hookMu.Unlock()
			w.t.Fatalf("no delivery with %s signed with the webhook secret (%d badly signed)", want, w.bad)
		}
	}
}

// check asserts that everything sealed opens on a server started with the
// new key alone.
func (w *world) check(env *testenv.Env, newKey []byte) {
	t := w.t
	t.Helper()
	vars := map[string]string{"BINDERY_NATS_URL": w.natsURL, "BINDERY_NATS_PASSWORD": testenv.NATSPassword, secrets.EnvVar: b64(newKey)}
	// Sealed personal fields (data keys) open.
	a := must(t, env.Admin("GET", "/v1/accounts/"+w.ada, nil), 200, "read ada")
	if a["display_name"] != "Ada Lovelace" || a["phone"] != "+8613900000001" {
		t.Fatalf("ada after the rotation: %v", a)
	}
	if e := must(t, env.Admin("GET", "/v1/accounts/"+w.erased, nil), 200, "read erased"); e["status"] != "erased" || e["display_name"] != nil {
		t.Fatalf("the erased account came back: %v", e)
	}
	// A token signed before the rotation verifies; the person's data opens.
	me := must(t, env.Do("GET", "/v1/me/data", nil, "Authorization", "Bearer "+w.personToken), 200, "me/data with a token from before")
	if me["account"].(map[string]any)["display_name"] != "Rota Person" {
		t.Fatalf("me/data: %v", me["account"])
	}
	// The app secret (in the history, sealed under the old key) opens:
	// code2session at wxsim needs it.
	ans := must(t, env.Do("POST", "/v1/apps/mini/login/code", map[string]string{"code": w.code()}), 200, "login after")
	if ans["status"] != "OK" || ans["account_id"] != w.person || ans["id_token"] == "" {
		t.Fatalf("login after the rotation: %v", ans)
	}
	// New tokens sign and verify.
	must(t, env.Do("GET", "/v1/me/data", nil, "Authorization", "Bearer "+ans["id_token"].(string)), 200, "me/data with a new token")
	// The OIDC client's secret authenticates; a wrong one does not.
	if r := introspect(t, env, rotClientSecret); r != http.StatusOK {
		t.Fatalf("introspection with the client secret: %d", r)
	}
	if r := introspect(t, env, "not-the-secret-0123456789"); r != http.StatusUnauthorized {
		t.Fatalf("introspection with a wrong secret: %d", r)
	}
	// The password hash (sealed in the history) opens.
	recs, err := env.App.Store.Load(context.Background(), events.Aggregate{Type: "account", ID: w.ada}, 0)
	if err != nil || len(recs) == 0 {
		t.Fatalf("ada's events: %v", err)
	}
	created, ok := recs[0].Event.(events.AccountCreated)
	if !ok || created.PasswordSealed == "" {
		t.Fatalf("first event of ada: %T", recs[0].Event)
	}
	if _, err := env.App.API.Accounts.Box.Open(created.PasswordSealed, accounts.PasswordAAD); err != nil {
		t.Fatalf("ada's password hash: %v", err)
	}
	// The webhook secret opens: a new event is delivered signed with it.
	must(t, env.Admin("POST", "/v1/accounts", map[string]any{"display_name": "After Rotation"}), 201, "create after")
	w.delivered("After Rotation")
	// binderyctl with the new key alone opens the history's values.
	code, out, errOut := ctl(t, vars, "events", "tail", "--since", "1h", "--type", "account_created", "--count", "3", "--json")
	if code != exitOK || !strings.Contains(out, "Ada Lovelace") || !strings.Contains(out, "+8613900000001") {
		t.Fatalf("events tail (%d): %s\n%s", code, errOut, out)
	}
}

func introspect(t *testing.T, env *testenv.Env, secret string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", env.URL+"/oauth2/introspect", strings.NewReader("token=nonsense"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("wiki", secret)
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// kvSealedOnlyUnder asserts that every entry of the sealed buckets opens
// under the new key alone and none under the old key alone.
func kvSealedOnlyUnder(t *testing.T, js jetstream.JetStream, oldKey, newKey []byte) {
	t.Helper()
	ctx := context.Background()
	oldBox, _ := secrets.NewBox(oldKey)
	newBox, _ := secrets.NewBox(newKey)
	n := 0
	each := func(bucket string, f func(name string, value []byte)) {
		kv, err := js.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatalf("bucket %s: %v", bucket, err)
		}
		names := kvNames(t, kv)
		for _, name := range names {
			e, err := kv.Get(ctx, name)
			if err != nil {
				t.Fatalf("%s %s: %v", bucket, name, err)
			}
			f(name, e.Value())
			n++
		}
		st, _ := js.Stream(ctx, "KV_"+bucket)
		if st.CachedInfo().Config.MaxMsgsPerSubject != 1 {
			t.Fatalf("bucket %s keeps %d revisions after the rotation", bucket, st.CachedInfo().Config.MaxMsgsPerSubject)
		}
	}
	for _, b := range []string{datakeys.Bucket, datakeys.AuthBucket} {
		each(b, func(name string, v []byte) {
			if datakeys.Opens(oldBox, name, v) || !datakeys.Opens(newBox, name, v) {
				t.Fatalf("%s %s is not sealed under the new key only", b, name)
			}
		})
	}
	each(tokens.KeyBucket, func(name string, v []byte) {
		// ResealKeySet answers nil when its "next" key opens the set and
		// fails when its "open" key does not.
		if out, err := tokens.ResealKeySet(v, newBox, newBox); out != nil || err != nil {
			t.Fatalf("the signing keys do not open under the new key: %v", err)
		}
		if _, err := tokens.ResealKeySet(v, oldBox, oldBox); err == nil {
			t.Fatal("the signing keys open under the old key")
		}
	})
	each(audit.KeyBucket, func(name string, v []byte) {
		if _, untrusted, _ := audit.ResealKey(name, v, newBox, newBox); untrusted {
			t.Fatalf("audit %s does not open under the new key", name)
		}
		if out, untrusted, _ := audit.ResealKey(name, v, oldBox, oldBox); strings.HasPrefix(name, "seal.key.") && (!untrusted || out != nil) {
			t.Fatalf("audit %s opens under the old key", name)
		}
	})
	if n < 10 {
		t.Fatalf("only %d entries checked", n)
	}
}

// sealedDataKeys reads the data-key entries as stored (sealed), to look
// for them on disk after the rotation.
func sealedDataKeys(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, datakeys.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	names := kvNames(t, kv)
	var out []string
	for _, n := range names {
		if e, err := kv.Get(ctx, n); err == nil {
			out = append(out, string(e.Value()))
		}
	}
	return out
}

// onDisk reports which of the values appear in any file under dir.
func onDisk(t *testing.T, dir string, values []string) []string {
	t.Helper()
	var found []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(path)
		for _, v := range values {
			if bytes.Contains(data, []byte(v)) {
				found = append(found, v)
			}
		}
		return nil
	})
	return found
}

func b64(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// startErr starts a server like testenv and answers its start-up error.
func startErr(t *testing.T, dir, key string, extra map[string]string) error {
	vars := map[string]string{"BINDERY_DATA_DIR": dir, "BINDERY_NATS_LISTEN": "off", "BINDERY_ADMIN_TOKEN": testenv.AdminToken,
		secrets.EnvVar: key, "BINDERY_NATS_PASSWORD": testenv.NATSPassword, "BINDERY_NATS_DOWNSTREAM_PASSWORD": testenv.NATSDownstreamPassword}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return vars[k] }, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := bserver.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		a.Close()
		return errors.New("started")
	}
	return err
}

// Rotate a bindery with its embedded store: refused while it runs, then,
// stopped, every data key and secret is re-sealed under a generated key;
// started with that key alone, everything opens, and no KV entry (nor any
// file of the store) holds a data key sealed under the old key. A second
// run changes nothing; the old key alone no longer starts the server.
func TestKeysRotate(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	w := newWorld(t, map[string]string{"BINDERY_NATS_LISTEN": addr})
	w.natsURL = "nats://" + addr
	env := w.start(testMasterKey)
	w.seed(env)
	before := sealedDataKeys(t, env.App.Store.JetStream())
	newFile := filepath.Join(t.TempDir(), "new.key")
	ctlVars := map[string]string{secrets.EnvVar: testMasterKey, "BINDERY_DATA_DIR": w.dir, "BINDERY_NATS_PASSWORD": testenv.NATSPassword,
		"BINDERY_NATS_DOWNSTREAM_PASSWORD": testenv.NATSDownstreamPassword}
	if code, out, errOut := ctl(t, ctlVars, "keys", "rotate", "--generate", "--new-key-file", newFile); code != exitProblem || !strings.Contains(errOut, "in use") {
		t.Fatalf("rotate while bindery runs on the store (%d):\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(newFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused run left a generated key file: %v", err)
	}
	env.Close()

	code, out, errOut := ctl(t, ctlVars, "keys", "rotate", "--generate", "--new-key-file", newFile)
	t.Logf("rotate:\n%s%s", out, errOut)
	if code != exitOK || !strings.Contains(errOut, "re-sealing data keys") || !strings.Contains(out, "data keys:") || !strings.Contains(out, "done") {
		t.Fatalf("rotate (%d):\n%s\n%s", code, out, errOut)
	}
	st, err := os.Stat(newFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new key file: %v %v", st, err)
	}
	newKey, err := secrets.ReadKeyFile(newFile)
	if err != nil {
		t.Fatal(err)
	}
	oldKey, _ := secrets.ParseKey(testMasterKey)
	for _, s := range []string{testMasterKey, b64(newKey), rotAppSecret, rotClientSecret, rotHookSecret} {
		if strings.Contains(out+errOut, s) {
			t.Fatalf("the rotation printed a secret:\n%s%s", out, errOut)
		}
	}
	if found := onDisk(t, filepath.Join(w.dir, "jetstream"), before); len(found) > 0 {
		t.Fatalf("%d of %d data keys sealed under the old key are still in the store's files", len(found), len(before))
	}
	// Again: nothing left to do. To the same key: refused.
	if code, out, errOut := ctl(t, ctlVars, "keys", "rotate", "--new-key-file", newFile); code != exitOK || !strings.Contains(out, "data keys:    0 re-sealed") {
		t.Fatalf("second run (%d):\n%s%s", code, out, errOut)
	}
	same := map[string]string{secrets.EnvVar: b64(newKey), "BINDERY_DATA_DIR": w.dir, EnvNewMasterKey: b64(newKey)}
	if code, _, errOut := ctl(t, same, "keys", "rotate"); code != exitProblem || !strings.Contains(errOut, "the one in use") {
		t.Fatalf("rotation to the key in use (%d): %s", code, errOut)
	}

	env = w.start(b64(newKey))
	w.check(env, newKey)
	kvSealedOnlyUnder(t, env.App.Store.JetStream(), oldKey, newKey)
	env.Close()
	if err := startErr(t, w.dir, testMasterKey, nil); !strings.Contains(err.Error(), "rotated out") {
		t.Fatalf("start with the old key: %v", err)
	}
}

// A rotation cut short (--limit) leaves a store that a server started with
// the new key alone uses fully; the next run finishes it.
func TestKeysRotateInterrupted(t *testing.T) {
	t.Parallel()
	ns := natstest.Server(t, "")
	w := newWorld(t, map[string]string{"BINDERY_NATS_URL": ns.ClientURL()})
	w.natsURL = ns.ClientURL()
	env := w.start(testMasterKey)
	w.seed(env)
	env.Close()
	newKey := make([]byte, 32)
	for i := range newKey {
		newKey[i] = byte(i * 7)
	}
	oldKey, _ := secrets.ParseKey(testMasterKey)
	ctlVars := map[string]string{secrets.EnvVar: testMasterKey, EnvNewMasterKey: b64(newKey), "BINDERY_NATS_URL": ns.ClientURL()}
	code, out, errOut := ctl(t, ctlVars, "keys", "rotate", "--limit", "3")
	if code != exitFailed || !strings.Contains(out, "stopped at --limit") || !strings.Contains(out, "3 re-sealed") {
		t.Fatalf("rotate --limit 3 (%d):\n%s%s", code, out, errOut)
	}
	// Half-way: the new key alone opens everything.
	env = w.start(b64(newKey))
	w.check(env, newKey)
	env.Close()
	// A run with another new key is refused: the first one is unfinished.
	other := map[string]string{secrets.EnvVar: testMasterKey, EnvNewMasterKey: b64(bytes.Repeat([]byte{9}, 32)), "BINDERY_NATS_URL": ns.ClientURL()}
	if code, out, errOut := ctl(t, other, "keys", "rotate"); code != exitProblem || !strings.Contains(errOut, "already retired under another key") {
		t.Fatalf("a rotation to a third key while one is unfinished (%d):\n%s%s", code, out, errOut)
	}
	code, out, errOut = ctl(t, ctlVars, "keys", "rotate")
	t.Logf("second run:\n%s%s", out, errOut)
	if code != exitOK || !strings.Contains(out, "already under the new key") {
		t.Fatalf("second run (%d):\n%s%s", code, out, errOut)
	}
	env = w.start(b64(newKey))
	w.check(env, newKey)
	kvSealedOnlyUnder(t, env.App.Store.JetStream(), oldKey, newKey)
}

func kvNames(t *testing.T, kv jetstream.KeyValue) []string {
	t.Helper()
	lister, err := kv.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range lister.Keys() {
		names = append(names, n)
	}
	return names
}
