package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/password"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// crmMapping is the field mapping of the sync tests' app: a customer
// export with its own names.
var crmMapping = map[string]string{
	"empNo": "external_id", "name": "display_name", "mobile": "phone", "mail": "email",
	"login": "username", "dept": "attributes.dept", "pwd": "password",
}

// syncEnv is a server with an app "crm" carrying crmMapping.
func syncEnv(t *testing.T) *testenv.Env {
	t.Helper()
	return syncEnvWith(t, nil)
}

// syncEnvWith is syncEnv with extra settings (BINDERY_* names).
func syncEnvWith(t *testing.T, settings map[string]string) *testenv.Env {
	t.Helper()
	env := testenv.Start(t, "", settings)
	r := env.Admin("PUT", "/v1/apps/crm", map[string]any{
		"name": "CRM", "kind": "host", "host": map[string]string{"secret": "host-secret-0123456789"},
		"field_mapping": crmMapping,
	})
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("put app: %d %s", r.Status, r.Body)
	}
	return env
}

type syncReport struct {
	Created, Updated, Unchanged int
	Failed                      []struct {
		Line          int
		Code, Message string
	}
	FailedOmitted int `json:"failed_omitted"`
}

func (r syncReport) String() string {
	return fmt.Sprintf("created %d, updated %d, unchanged %d, failed %+v", r.Created, r.Updated, r.Unchanged, r.Failed)
}

// postSync sends an NDJSON body to the app's sync route.
func postSync(t *testing.T, env *testenv.Env, app string, body any) (syncReport, testenv.Response) {
	t.Helper()
	r := env.Admin("POST", "/v1/apps/"+app+"/sync/accounts", body, "Content-Type", "application/x-ndjson")
	var rep syncReport
	if r.Status == http.StatusOK {
		r.JSON(t, &rep)
	}
	return rep, r
}

func historyHead(t *testing.T, env *testenv.Env) uint64 {
	t.Helper()
	h, err := env.App.Store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h.History
}

// crmLine is record i of the customer's export.
func crmLine(i int, name string) string {
	return fmt.Sprintf(`{"empNo":"E%04d","name":%q,"mobile":"+86 138 %08d","mail":"Emp%d@Example.com","dept":"d%d","hired":"2020-01-01"}`, i, name, i, i, i%7)
}

// Done-when 2 of issue 5: 500 records with 3 bad lines, the same file
// again, one changed record.
func TestSyncAccountsUpsert(t *testing.T) {
	env := syncEnv(t)
	var lines []string
	bad := map[int]string{} // line number → code
	for i := range 500 {
		switch i {
		case 100:
			lines = append(lines, `{"empNo": "X1", "name": `)
			bad[len(lines)] = "invalid_json"
		case 250:
			lines = append(lines, `{"name": "nobody's id", "mobile": "+8613900000000"}`)
			bad[len(lines)] = "missing_external_id"
		case 400:
			lines = append(lines, `{"empNo": "X3", "mobile": "12345"}`, "")
			bad[len(lines)-1] = "validation_failed"
		}
		lines = append(lines, crmLine(i, fmt.Sprintf("Employee %d", i)))
	}
	file := strings.Join(lines, "\n") + "\n"

	rep, r := postSync(t, env, "crm", file)
	if r.Status != http.StatusOK || rep.Created != 500 || rep.Updated != 0 || rep.Unchanged != 0 || len(rep.Failed) != 3 {
		t.Fatalf("first sync: %d %s", r.Status, r.Body)
	}
	for _, f := range rep.Failed {
		if bad[f.Line] != f.Code || f.Message == "" {
			t.Fatalf("failure %+v; the bad lines are %v", f, bad)
		}
	}
	if !strings.Contains(rep.Failed[2].Message, `"mobile"`) {
		t.Fatalf("the phone failure does not name the customer's field: %+v", rep.Failed[2])
	}
	pos := r.Header.Get("X-Bindery-Position")
	if pos == "" {
		t.Fatal("no X-Bindery-Position")
	}
	// Mapped, normalised, readable at once with min_position.
	g := env.Admin("GET", "/v1/accounts?external_id=E0042&min_position="+pos, nil)
	var found struct{ Accounts []map[string]any }
	g.JSON(t, &found)
	if g.Status != 200 || len(found.Accounts) != 1 {
		t.Fatalf("lookup: %d %s", g.Status, g.Body)
	}
	acc := found.Accounts[0]
	if acc["display_name"] != "Employee 42" || acc["phone"] != "+8613800000042" || acc["email"] != "emp42@example.com" {
		t.Fatalf("account %v", acc)
	}
	if attrs, _ := acc["attributes"].(map[string]any); attrs["dept"] != "d0" || len(attrs) != 1 {
		t.Fatalf("attributes %v: want only the mapped dept", acc["attributes"])
	}
	recs, err := env.App.Store.Load(context.Background(), events.Aggregate{Type: "account", ID: acc["id"].(string)}, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("events %v %v", recs, err)
	}
	if c, ok := recs[0].Event.(events.AccountCreated); !ok || c.Source != "sync" || recs[0].Envelope.Actor == "" {
		t.Fatalf("event %+v", recs[0])
	}

	// The same file again: nothing changes, nothing is appended.
	head := historyHead(t, env)
	rep, r = postSync(t, env, "crm", file)
	if r.Status != http.StatusOK || rep.Created != 0 || rep.Updated != 0 || rep.Unchanged != 500 || len(rep.Failed) != 3 {
		t.Fatalf("second sync: %d %s", r.Status, r.Body)
	}
	if after := historyHead(t, env); after != head {
		t.Fatalf("the unchanged file appended %d messages", after-head)
	}

	// One record changed: one update with only the changed field.
	changed := strings.Replace(file, crmLine(7, "Employee 7"), crmLine(7, "Employee Seven"), 1)
	rep, r = postSync(t, env, "crm", changed)
	if r.Status != http.StatusOK || rep.Created != 0 || rep.Updated != 1 || rep.Unchanged != 499 {
		t.Fatalf("third sync: %d %s", r.Status, r.Body)
	}
	if after := historyHead(t, env); after != head+1 {
		t.Fatalf("one changed name appended %d messages, want 1", after-head)
	}
	g = env.Admin("GET", "/v1/accounts?external_id=E0007&min_position="+r.Header.Get("X-Bindery-Position"), nil)
	g.JSON(t, &found)
	if found.Accounts[0]["display_name"] != "Employee Seven" {
		t.Fatalf("after the update: %s", g.Body)
	}
	recs, _ = env.App.Store.Load(context.Background(), events.Aggregate{Type: "account", ID: found.Accounts[0]["id"].(string)}, 0)
	u, ok := recs[len(recs)-1].Event.(events.AccountUpdated)
	if !ok || u.DisplayName == nil || u.Phone != nil || u.Email != nil || u.Attributes != nil || u.Source != "sync" {
		t.Fatalf("update event %+v", recs[len(recs)-1].Event)
	}
}

// Values another account holds, values two lines of one file claim, and
// an external_id twice.
func TestSyncUniqueValues(t *testing.T) {
	env := syncEnv(t)
	r := env.Admin("POST", "/v1/accounts", map[string]any{
		"username": "admin-made", "phone": "+8613700000001", "email": "taken@example.com", "external_id": "A1",
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	adminID := r.Map(t)["id"].(string)
	file := strings.Join([]string{
		`{"empNo":"S1","mobile":"+8613700000001"}`,    // 1: phone of A1
		`{"empNo":"S2","mail":"TAKEN@example.com"}`,   // 2: e-mail of A1 (case-insensitive)
		`{"empNo":"S3","login":"Admin-Made"}`,         // 3: username of A1 (case-insensitive)
		`{"empNo":"S4","mobile":"+8613700000009"}`,    // 4: a free phone…
		`{"empNo":"S5","mobile":"+8613700000009"}`,    // 5: …that line 4 took
		`{"empNo":"S6","name":"first"}`,               // 6
		`{"empNo":"S6","name":"second","dept":"ops"}`, // 7: the same id again: an update
		`{"empNo":"A1","name":"Synced name"}`,         // 8: the admin-made account, by its external_id
		`{"empNo":"S9","mobile":"+8613700000010"}`,    // 9
		`{"empNo":"S9","mobile":"+8613700000011"}`,    // 10: moves S9's phone…
		`{"empNo":"S11","mobile":"+8613700000010"}`,   // 11: …so this one may take the old one
	}, "\n")
	rep, r := postSync(t, env, "crm", file)
	if r.Status != http.StatusOK {
		t.Fatalf("sync: %d %s", r.Status, r.Body)
	}
	want := map[int]string{1: "phone_taken", 2: "email_taken", 3: "username_taken", 5: "phone_taken"}
	if rep.Created != 4 || rep.Updated != 3 || len(rep.Failed) != len(want) {
		t.Fatalf("report %s", rep)
	}
	for _, f := range rep.Failed {
		if want[f.Line] != f.Code {
			t.Fatalf("line %d failed with %s, want %q (report %s)", f.Line, f.Code, want[f.Line], rep)
		}
	}
	pos := r.Header.Get("X-Bindery-Position")
	lookup := func(q string) map[string]any {
		t.Helper()
		var found struct{ Accounts []map[string]any }
		g := env.Admin("GET", "/v1/accounts?"+q+"&min_position="+pos, nil)
		g.JSON(t, &found)
		if len(found.Accounts) != 1 {
			t.Fatalf("lookup %s: %s", q, g.Body)
		}
		return found.Accounts[0]
	}
	if a := lookup("external_id=S6"); a["display_name"] != "second" || a["attributes"].(map[string]any)["dept"] != "ops" {
		t.Fatalf("S6 (last line wins): %v", a)
	}
	if a := lookup("external_id=A1"); a["id"] != adminID || a["display_name"] != "Synced name" || a["username"] != "admin-made" {
		t.Fatalf("A1: %v", a)
	}
	if a := lookup("phone=%2B8613700000010"); a["external_id"] != "S11" {
		t.Fatalf("the phone S9 gave up: %v", a)
	}
	if a := lookup("phone=%2B8613700000009"); a["external_id"] != "S4" {
		t.Fatalf("the phone of line 4: %v", a)
	}
}

// Field mapping details: numbers as ids, Bindery's own names without a
// mapping, unmapped fields ignored, null keeps a value, "" clears it, and
// password hashes (never plain passwords).
func TestSyncFieldMapping(t *testing.T) {
	env := syncEnv(t)
	hash, err := password.HashWithParams("correct horse battery", password.CheapParams())
	if err != nil {
		t.Fatal(err)
	}
	file := strings.Join([]string{
		`{"empNo": 12345, "name": "Num", "mobile": "+8613600000001", "secretNotes": "dropped"}`,
		// "phone" is not used: mobile is what maps to phone; avatar_url is
		// Bindery's own name, taken as is.
		`{"empNo": "B2", "phone": "+8613600000002", "avatar_url": "https://example.com/a.png", "pwd": "` + hash + `"}`,
		`{"empNo": "B3", "pwd": "correct horse battery"}`,
		`{"empNo": "B4", "name": ["not", "a", "string"]}`,
		`[1, 2, 3]`,
		`{"empNo": "B6", "mail": "not-an-address"}`,
	}, "\r\n")
	rep, r := postSync(t, env, "crm", file)
	if r.Status != http.StatusOK || rep.Created != 2 {
		t.Fatalf("sync: %d %s", r.Status, r.Body)
	}
	want := map[int]string{3: "invalid_password_hash", 4: "validation_failed", 5: "invalid_json", 6: "validation_failed"}
	for _, f := range rep.Failed {
		if want[f.Line] != f.Code {
			t.Fatalf("line %d failed with %s (%s); want %v", f.Line, f.Code, f.Message, want)
		}
		delete(want, f.Line)
	}
	if len(want) != 0 {
		t.Fatalf("lines %v did not fail: %s", want, rep)
	}
	if strings.Contains(string(r.Body), "correct horse") || strings.Contains(env.Logs.String(), "correct horse") || strings.Contains(env.Logs.String(), hash) {
		t.Fatal("a password or hash in the answer or the log")
	}
	pos := r.Header.Get("X-Bindery-Position")
	get := func(ext string) map[string]any {
		t.Helper()
		var found struct{ Accounts []map[string]any }
		env.Admin("GET", "/v1/accounts?external_id="+ext+"&min_position="+pos, nil).JSON(t, &found)
		if len(found.Accounts) != 1 {
			t.Fatalf("no account %s", ext)
		}
		return found.Accounts[0]
	}
	if a := get("12345"); a["display_name"] != "Num" || a["attributes"] != nil && len(a["attributes"].(map[string]any)) != 0 {
		t.Fatalf("12345: %v", a)
	}
	if a := get("B2"); a["phone"] != nil && a["phone"] != "" || a["avatar_url"] != "https://example.com/a.png" || a["has_password"] != true {
		t.Fatalf("B2: %v", a)
	}
	// The hash is stored sealed, never in an event in the clear.
	if strings.Contains(auditDump(t, env), hash) {
		t.Fatal("the password hash is in an event in the clear")
	}

	// null keeps, "" clears, the same hash again is no change.
	rep, r = postSync(t, env, "crm", `{"empNo": 12345, "name": null, "mobile": ""}`+"\n"+`{"empNo": "B2", "pwd": "`+hash+`"}`)
	if r.Status != http.StatusOK || rep.Updated != 1 || rep.Unchanged != 1 || len(rep.Failed) != 0 {
		t.Fatalf("second sync: %d %s", r.Status, r.Body)
	}
	pos = r.Header.Get("X-Bindery-Position")
	if a := get("12345"); a["display_name"] != "Num" || a["phone"] != nil && a["phone"] != "" {
		t.Fatalf("after null and empty: %v", a)
	}
}

// auditDump is every raw event of the history stream.
func auditDump(t *testing.T, env *testenv.Env) string {
	t.Helper()
	r := env.Admin("GET", "/v1/audit/events?limit=10000", nil)
	if r.Status != 200 {
		t.Fatalf("audit: %d %s", r.Status, r.Body)
	}
	return string(r.Body)
}

// Bad requests are problems, never 500s; the body limit does not apply;
// a too-long line is reported and the next one is read.
func TestSyncRequests(t *testing.T) {
	env := syncEnv(t)
	path := "/v1/apps/crm/sync/accounts"
	line := `{"empNo":"R1"}`
	cases := []struct {
		name    string
		path    string
		headers []string
		status  int
		code    string
	}{
		{"json content type", path, []string{"Content-Type", "application/json"}, 415, "unsupported_media_type"},
		{"no content type", path, []string{"Content-Type", ""}, 415, "unsupported_media_type"},
		{"unknown app", "/v1/apps/nope/sync/accounts", []string{"Content-Type", "application/x-ndjson"}, 404, "app_not_found"},
		{"bad app slug", "/v1/apps/NO_PE/sync/accounts", []string{"Content-Type", "application/x-ndjson"}, 404, "app_not_found"},
		{"no token", path, []string{"Content-Type", "application/x-ndjson", "Authorization", ""}, 401, "unauthorized"},
		{"wrong token", path, []string{"Content-Type", "application/x-ndjson", "Authorization", "Bearer nope"}, 401, "unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := env.Admin("POST", tc.path, line, tc.headers...)
			if r.Status != tc.status || r.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(r.Body), `"code":"`+tc.code+`"`) {
				t.Fatalf("%d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
			}
		})
	}
	if r := env.Admin("GET", path, nil); r.Status != http.StatusMethodNotAllowed && r.Status != http.StatusNotFound {
		t.Fatalf("GET: %d", r.Status)
	}
	rep, r := postSync(t, env, "crm", "")
	if r.Status != http.StatusOK || rep.Created+rep.Updated+rep.Unchanged+len(rep.Failed) != 0 || !strings.Contains(string(r.Body), `"failed":[]`) {
		t.Fatalf("empty body: %d %s", r.Status, r.Body)
	}
	// 2 MiB in 40 lines of ~52 KiB, one line of 70 KiB among them.
	var b strings.Builder
	pad := strings.Repeat("x", 52<<10)
	for i := range 40 {
		if i == 20 {
			fmt.Fprintf(&b, `{"empNo":"R%d","dept":"%s"}`+"\n", i, strings.Repeat("y", 70<<10))
			continue
		}
		fmt.Fprintf(&b, `{"empNo":"R%d","dept":"%s"}`+"\n", i, pad)
	}
	rep, r = postSync(t, env, "crm", b.String())
	if r.Status != http.StatusOK || rep.Created != 39 || len(rep.Failed) != 1 || rep.Failed[0].Line != 21 || rep.Failed[0].Code != "line_too_long" {
		t.Fatalf("big body: %d %.300s", r.Status, r.Body)
	}
	// Other routes keep the 1 MiB limit.
	big := `{"username":"` + strings.Repeat("z", 2<<20) + `"}`
	if r := env.Admin("POST", "/v1/accounts", big); r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("admin create with 2 MiB: %d", r.Status)
	}
}

// A body streamed from a pipe (no Content-Length) is read as it comes.
func TestSyncStreamedBody(t *testing.T) {
	env := syncEnv(t)
	pr, pw := io.Pipe()
	go func() {
		for i := range 1000 {
			if _, err := fmt.Fprintln(pw, crmLine(i, "Streamed")); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, err := http.NewRequest("POST", env.URL+"/v1/apps/crm/sync/accounts", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testenv.AdminToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"created":1000`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
