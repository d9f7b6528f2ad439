package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// authzClient wraps the admin calls of the authz tests.
type authzClient struct {
	t   *testing.T
	env *testenv.Env
}

// must sends an admin request and fails unless the status is want.
func (c authzClient) must(want int, method, path string, body any, headers ...string) testenv.Response {
	c.t.Helper()
	r := c.env.Admin(method, path, body, headers...)
	if r.Status != want {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	return r
}

func (c authzClient) account(name string) string {
	c.t.Helper()
	return c.must(201, "POST", "/v1/accounts", map[string]any{"username": name}).Map(c.t)["id"].(string)
}

// check asks /v1/authz/check right after a write, naming the write's
// position in the header, so the answer must include it.
func (c authzClient) check(after testenv.Response, account, perm, org string) bool {
	c.t.Helper()
	body := map[string]any{"account_id": account, "permission": perm}
	if org != "" {
		body["org"] = org
	}
	r := c.must(200, "POST", "/v1/authz/check", body, "X-Bindery-Position", after.Header.Get("X-Bindery-Position"))
	allowed, ok := r.Map(c.t)["allowed"].(bool)
	if !ok {
		c.t.Fatalf("check answer %s", r.Body)
	}
	return allowed
}

func TestAuthzOverHTTP(t *testing.T) {
	env := testenv.Start(t, "", nil)
	c := authzClient{t, env}
	alice, bob := c.account("alice"), c.account("bob")

	// Roles: created (201) with canonical, sorted, deduplicated permissions;
	// the same definition again changes nothing (200, the same position).
	r := c.must(201, "PUT", "/v1/roles/seller", `{"permissions":["deal:read","deal:close","deal:read"]}`)
	if got := fmt.Sprint(r.Map(t)["permissions"]); got != "[deal:close deal:read]" || r.Header.Get("X-Bindery-Position") == "" {
		t.Fatalf("role: %s %v", got, r.Header)
	}
	again := c.must(200, "PUT", "/v1/roles/seller", `{"permissions":["deal:close","deal:read"]}`)
	if again.Header.Get("X-Bindery-Position") != r.Header.Get("X-Bindery-Position") {
		t.Fatal("an unchanged role appended an event")
	}
	g := c.must(200, "GET", "/v1/roles/seller?min_position="+r.Header.Get("X-Bindery-Position"), nil)
	if g.Map(t)["name"] != "seller" {
		t.Fatalf("role read %s", g.Body)
	}

	// The tree: hq ─ sales ─ east, hq ─ ops.
	c.must(201, "PUT", "/v1/orgs/hq", `{"name":"HQ"}`)
	c.must(201, "PUT", "/v1/orgs/sales", `{"name":"Sales","parent":"hq"}`)
	c.must(201, "PUT", "/v1/orgs/east", `{"name":"Sales East","parent":"sales"}`)
	ops := c.must(201, "PUT", "/v1/orgs/ops", `{"name":"Ops","parent":"hq"}`)
	o := c.must(200, "GET", "/v1/orgs/hq?min_position="+ops.Header.Get("X-Bindery-Position"), nil).Map(t)
	if fmt.Sprint(o["children"]) != "[ops sales]" || o["name"] != "HQ" {
		t.Fatalf("hq %v", o)
	}

	// A grant in sales reaches sales and east, never hq, ops or no org;
	// each check reads the grant it follows.
	grant := c.must(201, "POST", "/v1/accounts/"+alice+"/roles", `{"role":"seller","org":"sales"}`)
	for _, tc := range []struct {
		perm, org string
		want      bool
	}{
		{"deal:close", "sales", true}, {"deal:close", "east", true}, {"deal:read", "east", true},
		{"deal:close", "hq", false}, {"deal:close", "ops", false}, {"deal:close", "", false},
		{"deal:delete", "sales", false},
	} {
		if got := c.check(grant, alice, tc.perm, tc.org); got != tc.want {
			t.Errorf("alice %s in %q: %v, want %v", tc.perm, tc.org, got, tc.want)
		}
	}
	if got := c.check(grant, bob, "deal:close", "sales"); got {
		t.Error("bob allowed by alice's grant")
	}
	c.must(200, "POST", "/v1/accounts/"+alice+"/roles", `{"role":"seller","org":"sales"}`) // held already

	// Wildcards, unscoped: everywhere, with or without an org.
	c.must(201, "PUT", "/v1/roles/auditor", `{"permissions":["*:read","audit:*"]}`)
	wild := c.must(201, "POST", "/v1/accounts/"+bob+"/roles", `{"role":"auditor"}`)
	for _, tc := range []struct {
		perm, org string
		want      bool
	}{
		{"invoice:read", "", true}, {"invoice:read", "east", true}, {"audit:export", "", true},
		{"invoice:write", "", false}, {"audits:export", "", false},
	} {
		if got := c.check(wild, bob, tc.perm, tc.org); got != tc.want {
			t.Errorf("bob %s in %q: %v, want %v", tc.perm, tc.org, got, tc.want)
		}
	}

	// Moving east under ops takes it out of the sales grant's reach.
	move := c.must(200, "PUT", "/v1/orgs/east", `{"name":"Sales East","parent":"ops"}`)
	if c.check(move, alice, "deal:close", "east") {
		t.Error("a grant in sales still reaches east after its move")
	}
	// The tree refuses an unknown parent and every cycle.
	for body, code := range map[string]string{
		`{"name":"X","parent":"nowhere"}`: "org_not_found",
	} {
		if p := c.must(404, "PUT", "/v1/orgs/x", body).Map(t); p["code"] != code {
			t.Fatalf("%s: %v", body, p)
		}
	}
	for _, tc := range []struct{ id, parent string }{{"hq", "hq"}, {"hq", "east"}, {"ops", "east"}, {"hq", "sales"}} {
		p := c.must(409, "PUT", "/v1/orgs/"+tc.id, fmt.Sprintf(`{"name":"N","parent":%q}`, tc.parent)).Map(t)
		if p["code"] != "org_cycle" {
			t.Fatalf("%s under %s: %v", tc.id, tc.parent, p)
		}
	}

	// Membership, shown on the org and on the account.
	c.must(201, "POST", "/v1/orgs/sales/members", map[string]string{"account_id": alice})
	c.must(200, "POST", "/v1/orgs/sales/members", map[string]string{"account_id": alice})
	m := c.must(201, "POST", "/v1/orgs/ops/members", map[string]string{"account_id": alice})
	acc := c.must(200, "GET", "/v1/accounts/"+alice, nil, "X-Bindery-Position", m.Header.Get("X-Bindery-Position")).Map(t)
	if fmt.Sprint(acc["orgs"]) != "[ops sales]" || fmt.Sprint(acc["roles"]) != "[map[org:sales role:seller]]" {
		t.Fatalf("account read: orgs %v roles %v", acc["orgs"], acc["roles"])
	}
	so := c.must(200, "GET", "/v1/orgs/sales", nil, "X-Bindery-Position", m.Header.Get("X-Bindery-Position")).Map(t)
	if fmt.Sprint(so["members"]) != "["+alice+"]" || fmt.Sprint(so["path"]) != "[hq]" {
		t.Fatalf("sales %v", so)
	}
	rm := c.must(204, "DELETE", "/v1/orgs/ops/members/"+alice, nil)
	if p := c.must(404, "DELETE", "/v1/orgs/ops/members/"+alice, nil).Map(t); p["code"] != "member_not_found" {
		t.Fatalf("second removal %v", p)
	}
	acc = c.must(200, "GET", "/v1/accounts/"+alice, nil, "X-Bindery-Position", rm.Header.Get("X-Bindery-Position")).Map(t)
	if fmt.Sprint(acc["orgs"]) != "[sales]" {
		t.Fatalf("orgs after removal %v", acc["orgs"])
	}

	// Revocation takes effect at the position it reached.
	rev := c.must(204, "DELETE", "/v1/accounts/"+alice+"/roles/seller?org=sales", nil)
	if rev.Header.Get("X-Bindery-Position") == "" {
		t.Fatal("revocation without a position")
	}
	if c.check(rev, alice, "deal:close", "sales") {
		t.Fatal("allowed after revocation")
	}
	if p := c.must(404, "DELETE", "/v1/accounts/"+alice+"/roles/seller?org=sales", nil).Map(t); p["code"] != "grant_not_found" {
		t.Fatalf("second revocation %v", p)
	}
	// Redefining a role changes what its holders may do, at its position.
	redef := c.must(200, "PUT", "/v1/roles/auditor", `{"permissions":["audit:*"]}`)
	if c.check(redef, bob, "invoice:read", "") {
		t.Fatal("a removed permission still allowed")
	}
	// min_position works from the body and the query as well.
	for _, path := range []string{"/v1/authz/check?min_position=" + redef.Header.Get("X-Bindery-Position"), "/v1/authz/check"} {
		body := fmt.Sprintf(`{"account_id":%q,"permission":"audit:read","min_position":%q}`, bob, redef.Header.Get("X-Bindery-Position"))
		if strings.Contains(path, "?") {
			body = fmt.Sprintf(`{"account_id":%q,"permission":"audit:read"}`, bob)
		}
		if got := c.must(200, "POST", path, body).Map(t)["allowed"]; got != true {
			t.Fatalf("%s: %v", path, got)
		}
	}
	// A batch answers in order, after the position it names.
	batch := fmt.Sprintf(`{"min_position":%q,"checks":[
		{"account_id":%q,"permission":"audit:read"},
		{"account_id":%q,"permission":"invoice:read"},
		{"account_id":%q,"permission":"deal:read","org":"sales"}]}`, redef.Header.Get("X-Bindery-Position"), bob, bob, alice)
	if got := string(c.must(200, "POST", "/v1/authz/checks", batch).Body); got != `{"allowed":[true,false,false]}` {
		t.Fatalf("batch: %s", got)
	}
	// A disabled account is allowed nothing.
	dis := c.must(200, "DELETE", "/v1/accounts/"+bob, nil)
	if c.check(dis, bob, "audit:read", "") {
		t.Fatal("a disabled account allowed")
	}
}

// Every bad input answers 4xx problem+json with a stable code.
func TestAuthzBadInputs(t *testing.T) {
	env := testenv.Start(t, "", nil)
	c := authzClient{t, env}
	alice := c.account("alice")
	c.must(201, "PUT", "/v1/roles/viewer", `{"permissions":["report:read"]}`)
	c.must(201, "PUT", "/v1/orgs/hq", `{"name":"HQ"}`)
	unknown := "00000000-0000-4000-8000-000000000000"
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"role bad name", "PUT", "/v1/roles/Viewer", `{"permissions":[]}`, 400, "validation_failed"},
		{"role no permissions", "PUT", "/v1/roles/x", `{}`, 400, "validation_failed"},
		{"role null permissions", "PUT", "/v1/roles/x", `{"permissions":null}`, 400, "validation_failed"},
		{"role bad permission", "PUT", "/v1/roles/x", `{"permissions":["report"]}`, 400, "validation_failed"},
		{"role upper-case permission", "PUT", "/v1/roles/x", `{"permissions":["Report:Read"]}`, 400, "validation_failed"},
		{"role partial wildcard", "PUT", "/v1/roles/x", `{"permissions":["rep*:read"]}`, 400, "validation_failed"},
		{"role permissions not array", "PUT", "/v1/roles/x", `{"permissions":"report:read"}`, 400, "validation_failed"},
		{"role unknown field", "PUT", "/v1/roles/x", `{"permissions":[],"perms":[]}`, 400, "validation_failed"},
		{"role broken json", "PUT", "/v1/roles/x", `{"permissions":[`, 400, "validation_failed"},
		{"role unknown", "GET", "/v1/roles/nope", nil, 404, "role_not_found"},
		{"role unreadable name", "GET", "/v1/roles/NOPE", nil, 404, "role_not_found"},
		{"grant bad account", "POST", "/v1/accounts/not-a-uuid/roles", `{"role":"viewer"}`, 404, "not_found"},
		{"grant unknown account", "POST", "/v1/accounts/" + unknown + "/roles", `{"role":"viewer"}`, 404, "not_found"},
		{"grant unknown role", "POST", "/v1/accounts/" + alice + "/roles", `{"role":"ghost"}`, 404, "role_not_found"},
		{"grant unknown org", "POST", "/v1/accounts/" + alice + "/roles", `{"role":"viewer","org":"nowhere"}`, 404, "org_not_found"},
		{"grant no role", "POST", "/v1/accounts/" + alice + "/roles", `{}`, 400, "validation_failed"},
		{"grant bad role", "POST", "/v1/accounts/" + alice + "/roles", `{"role":"a b"}`, 400, "validation_failed"},
		{"grant bad org", "POST", "/v1/accounts/" + alice + "/roles", `{"role":"viewer","org":"a/b"}`, 400, "validation_failed"},
		{"grant unknown field", "POST", "/v1/accounts/" + alice + "/roles", `{"role":"viewer","scope":"hq"}`, 400, "validation_failed"},
		{"revoke not held", "DELETE", "/v1/accounts/" + alice + "/roles/viewer", nil, 404, "grant_not_found"},
		{"revoke unknown param", "DELETE", "/v1/accounts/" + alice + "/roles/viewer?organisation=hq", nil, 400, "validation_failed"},
		{"revoke unknown account", "DELETE", "/v1/accounts/" + unknown + "/roles/viewer", nil, 404, "not_found"},
		{"org bad id", "PUT", "/v1/orgs/HQ", `{"name":"x"}`, 400, "validation_failed"},
		{"org reserved id", "PUT", "/v1/orgs/_tree", `{"name":"x"}`, 400, "validation_failed"},
		{"org no name", "PUT", "/v1/orgs/x", `{}`, 400, "validation_failed"},
		{"org bad parent", "PUT", "/v1/orgs/x", `{"name":"x","parent":"A B"}`, 400, "validation_failed"},
		{"org name type", "PUT", "/v1/orgs/x", `{"name":7}`, 400, "validation_failed"},
		{"org unknown", "GET", "/v1/orgs/nope", nil, 404, "org_not_found"},
		{"member unknown org", "POST", "/v1/orgs/nope/members", `{"account_id":"` + alice + `"}`, 404, "org_not_found"},
		{"member unknown account", "POST", "/v1/orgs/hq/members", `{"account_id":"` + unknown + `"}`, 404, "not_found"},
		{"member bad account", "POST", "/v1/orgs/hq/members", `{"account_id":"x"}`, 404, "not_found"},
		{"member no account", "POST", "/v1/orgs/hq/members", `{}`, 400, "validation_failed"},
		{"remove bad account", "DELETE", "/v1/orgs/hq/members/x", nil, 404, "not_found"},
		{"remove non-member", "DELETE", "/v1/orgs/hq/members/" + alice, nil, 404, "member_not_found"},
		{"check no account", "POST", "/v1/authz/check", `{"permission":"report:read"}`, 400, "validation_failed"},
		{"check bad account", "POST", "/v1/authz/check", `{"account_id":"x","permission":"report:read"}`, 400, "validation_failed"},
		{"check no permission", "POST", "/v1/authz/check", `{"account_id":"` + alice + `"}`, 400, "validation_failed"},
		{"check wildcard", "POST", "/v1/authz/check", `{"account_id":"` + alice + `","permission":"report:*"}`, 400, "validation_failed"},
		{"check bad org", "POST", "/v1/authz/check", `{"account_id":"` + alice + `","permission":"report:read","org":"A"}`, 400, "validation_failed"},
		{"check bad position", "POST", "/v1/authz/check", `{"account_id":"` + alice + `","permission":"report:read","min_position":"zz"}`, 400, "validation_failed"},
		{"check unknown field", "POST", "/v1/authz/check", `{"account_id":"` + alice + `","permission":"report:read","who":1}`, 400, "validation_failed"},
		{"check not json", "POST", "/v1/authz/check", `allowed?`, 400, "validation_failed"},
		{"batch empty", "POST", "/v1/authz/checks", `{"checks":[]}`, 400, "validation_failed"},
		{"batch missing", "POST", "/v1/authz/checks", `{}`, 400, "validation_failed"},
		{"batch too big", "POST", "/v1/authz/checks", `{"checks":[` + strings.Repeat(`{"account_id":"`+alice+`","permission":"a:b"},`, 1000) + `{"account_id":"` + alice + `","permission":"a:b"}]}`, 400, "validation_failed"},
		{"batch bad entry", "POST", "/v1/authz/checks", `{"checks":[{"account_id":"` + alice + `","permission":"a:b"},{"account_id":"` + alice + `","permission":"*"}]}`, 400, "validation_failed"},
		{"batch bad position", "POST", "/v1/authz/checks", `{"checks":[{"account_id":"` + alice + `","permission":"a:b"}],"min_position":"h1"}`, 400, "validation_failed"},
		{"batch unknown field", "POST", "/v1/authz/checks", `{"checks":[{"account":"x"}]}`, 400, "validation_failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := env.Admin(tc.method, tc.path, tc.body)
			if r.Status != tc.status {
				t.Fatalf("%s %s: %d, want %d: %s", tc.method, tc.path, r.Status, tc.status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			if got := r.Map(t)["code"]; got != tc.code {
				t.Fatalf("code %v, want %s (%s)", got, tc.code, r.Body)
			}
		})
	}
	// Admin only.
	for _, p := range [][2]string{{"GET", "/v1/roles/viewer"}, {"PUT", "/v1/orgs/hq"}, {"POST", "/v1/authz/check"}, {"DELETE", "/v1/orgs/hq/members/" + alice}} {
		if r := env.Do(p[0], p[1], `{}`); r.Status != http.StatusUnauthorized {
			t.Fatalf("%s %s without a token: %d", p[0], p[1], r.Status)
		}
	}
	// An account nobody granted anything is simply not allowed.
	if r := c.must(200, "POST", "/v1/authz/check", `{"account_id":"`+unknown+`","permission":"report:read","org":"hq"}`); r.Map(t)["allowed"] != false {
		t.Fatalf("unknown account: %s", r.Body)
	}
}
