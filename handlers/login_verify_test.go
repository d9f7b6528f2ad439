package handlers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/adapters/verify"
	"github.com/bindery/bindery/internal/crypto/hostcode"
)

// Apps whose account source is "verify": password binds and host logins
// ask the customer's account API (signed), upsert the account it vouches
// for by external_id with its roles and orgs; bound identities keep
// logging in while that API is down.
func TestVerifySource(t *testing.T) {
	e := startLogin(t)
	const vsecret = "customer-api-secret-0123"
	var down atomic.Bool
	var calls, badSig atomic.Int32
	customer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Bindery-Signature") != verify.Sign(vsecret, body) {
			badSig.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var q map[string]string
		_ = json.Unmarshal(body, &q)
		var ans map[string]any
		switch {
		case q["username"] == "erin" && q["password"] == "erin-erp-password":
			ans = map[string]any{"external_id": "E-42", "display_name": "Erin", "phone": "+8613600000001", "roles": []string{"viewer", "undefined-role"}, "orgs": []string{"sales"}}
		case q["uid"] == "H-9":
			ans = map[string]any{"external_id": "E-9", "display_name": "Hugo"}
		default:
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(customer.Close)
	if r := e.Admin("PUT", "/v1/roles/viewer", map[string]any{"permissions": []string{"report:read"}}); r.Status >= 300 {
		t.Fatalf("role: %d %s", r.Status, r.Body)
	}
	if r := e.Admin("PUT", "/v1/orgs/sales", map[string]any{"name": "Sales"}); r.Status >= 300 {
		t.Fatalf("org: %d %s", r.Status, r.Body)
	}
	source := map[string]any{"mode": "verify", "url": customer.URL + "/verify", "secret": vsecret}
	erp := e.wechatApp("erp", "", map[string]any{"account_source": source})

	user := e.simUser("")
	out := e.post("/v1/apps/erp/login/code", map[string]any{"code": e.code(erp, user)}, 200, "")
	e.post("/v1/bind/password", map[string]any{"bind_ticket": out["bind_ticket"], "username": "erin", "password": "wrong"}, 401, "invalid_credentials")
	ok := e.post("/v1/bind/password", map[string]any{"bind_ticket": out["bind_ticket"], "username": "erin", "password": "erin-erp-password"}, 200, "")
	acc := e.read(ok["account_id"].(string), ok["_position"].(string))
	roles, _ := json.Marshal(acc["roles"])
	if acc["external_id"] != "E-42" || acc["display_name"] != "Erin" || acc["phone"] != "+8613600000001" ||
		string(roles) != `[{"role":"viewer"}]` || !slices.Equal(toStrings(acc["orgs"]), []string{"sales"}) || len(bindings(acc)) != 1 {
		t.Fatalf("verified account: %v", acc)
	}
	// The customer's API goes down: the bound identity still logs in, a
	// new password bind is 503 upstream_unavailable.
	down.Store(true)
	again := e.post("/v1/apps/erp/login/code", map[string]any{"code": e.code(erp, user)}, 200, "")
	if again["account_id"] != ok["account_id"] {
		t.Fatalf("login while the API is down: %v", again)
	}
	out = e.post("/v1/apps/erp/login/code", map[string]any{"code": e.code(erp, e.simUser(""))}, 200, "")
	e.post("/v1/bind/password", map[string]any{"bind_ticket": out["bind_ticket"], "username": "erin", "password": "erin-erp-password"}, 503, "upstream_unavailable")
	down.Store(false)

	// A host app: an unknown host user is asked about.
	hsecret := "host-secret-for-erp-0123"
	if r := e.Admin("PUT", "/v1/apps/erphost", map[string]any{"kind": "host", "host": map[string]any{"secret": hsecret}, "account_source": source}); r.Status != 201 {
		t.Fatalf("host app: %d %s", r.Status, r.Body)
	}
	mint := func(uid string) string {
		return hostcode.Mint([]byte(hsecret), uid, e.clock.Now().Add(time.Minute), hostcode.NewNonce())
	}
	h := e.post("/v1/apps/erphost/login/code", map[string]any{"code": mint("H-9")}, 200, "")
	hacc := e.read(h["account_id"].(string), h["_position"].(string))
	if h["status"] != "OK" || hacc["external_id"] != "E-9" || !hasBinding(hacc, "host_uid", "erphost", "H-9") {
		t.Fatalf("verified host login: %v %v", h, hacc)
	}
	if st := e.post("/v1/apps/erphost/login/code", map[string]any{"code": mint("H-x")}, 200, ""); st["status"] != "SOCIAL_BIND" {
		t.Fatalf("unknown host user: %v", st)
	}
	down.Store(true)
	if h2 := e.post("/v1/apps/erphost/login/code", map[string]any{"code": mint("H-9")}, 200, ""); h2["account_id"] != h["account_id"] {
		t.Fatalf("bound host user while the API is down: %v", h2)
	}
	e.post("/v1/apps/erphost/login/code", map[string]any{"code": mint("H-10")}, 503, "upstream_unavailable")
	if badSig.Load() != 0 || calls.Load() < 5 {
		t.Fatalf("calls %d, bad signatures %d", calls.Load(), badSig.Load())
	}
	verified := 0
	for _, m := range allRecords(t, e) {
		if m.Envelope.Type == "bindery.account_verified.v1" {
			verified++
		}
	}
	if verified != 2 {
		t.Fatalf("%d account_verified events, want 2", verified)
	}
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
