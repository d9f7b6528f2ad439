package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// binderyctl sync accounts end to end: a file in the customer's names
// through the app's mapping, with a progress bar and the failed lines; the
// same file again changes nothing.
func TestSyncAccountsCommand(t *testing.T) {
	env, vars := server(t)
	r := env.Admin("PUT", "/v1/apps/crm", map[string]any{
		"kind": "host", "host": map[string]string{"secret": "host-secret-0123456789"},
		"field_mapping": map[string]string{"empNo": "external_id", "name": "display_name", "mobile": "phone"},
	})
	if r.Status != 201 {
		t.Fatalf("app: %d %s", r.Status, r.Body)
	}
	var b strings.Builder
	for i := range 300 {
		switch i {
		case 10:
			b.WriteString("{broken\n")
		case 20:
			b.WriteString(`{"name":"no id"}` + "\n")
		}
		fmt.Fprintf(&b, `{"empNo":"C%d","name":"Person %d","mobile":"+86139%08d"}`+"\n", i, i, i)
	}
	file := filepath.Join(t.TempDir(), "accounts.ndjson")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := ctl(t, vars, "sync", "accounts", file, "--app", "crm")
	if code != exitFailed || !strings.Contains(out, "created 300, updated 0, unchanged 0, failed 2") ||
		!strings.Contains(out, "line 11: invalid_json:") || !strings.Contains(out, "line 22: missing_external_id:") {
		t.Fatalf("first run (%d):\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "100%") || !strings.Contains(errOut, "302 lines") || !strings.Contains(errOut, "lines/s") {
		t.Fatalf("progress bar: %q", errOut)
	}
	lookup := env.Admin("GET", "/v1/accounts?external_id=C42", nil)
	if !strings.Contains(string(lookup.Body), `"display_name":"Person 42"`) || !strings.Contains(string(lookup.Body), `"+8613900000042"`) {
		t.Fatalf("C42: %s", lookup.Body)
	}

	// Flags first, JSON out; nothing changed.
	code, out, errOut = ctl(t, vars, "sync", "accounts", "--app", "crm", "--json", file)
	var rep syncReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitFailed || rep.Unchanged != 300 || rep.Created+rep.Updated != 0 || len(rep.Failed) != 2 {
		t.Fatalf("second run (%d): %v\n%s\n%s", code, err, out, errOut)
	}

	// A clean file exits 0.
	clean := filepath.Join(t.TempDir(), "one.ndjson")
	if err := os.WriteFile(clean, []byte(`{"empNo":"C1","name":"Renamed"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := ctl(t, vars, "sync", "accounts", clean, "--app", "crm"); code != exitOK || !strings.Contains(out, "updated 1") {
		t.Fatalf("clean file (%d):\n%s\n%s", code, out, errOut)
	}

	// Problems: exit 2 with the reason.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sync", "accounts", file}, "--app"},
		{[]string{"sync", "accounts", "--app", "crm"}, "FILE"},
		{[]string{"sync", "accounts", file, "other", "--app", "crm"}, "FILE"},
		{[]string{"sync", "accounts", filepath.Join(t.TempDir(), "missing"), "--app", "crm"}, "no such file"},
		{[]string{"sync", "accounts", file, "--app", "nope"}, "app_not_found"},
	} {
		if code, _, errOut := ctl(t, vars, tc.args...); code != exitProblem || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q (want %q)", tc.args, code, errOut, tc.want)
		}
	}
	noToken := map[string]string{"BINDERY_URL": vars["BINDERY_URL"], "BINDERY_ADMIN_TOKEN": "wrong"}
	if code, _, errOut := ctl(t, noToken, "sync", "accounts", file, "--app", "crm"); code != exitProblem || !strings.Contains(errOut, "unauthorized") {
		t.Errorf("wrong token: exit %d, %q", code, errOut)
	}
	if code, out, _ := ctl(t, nil, "help"); code != exitOK || !strings.Contains(out, "sync accounts") {
		t.Errorf("help lacks sync accounts:\n%s", out)
	}
}
