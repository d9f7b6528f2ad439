package login

import (
	"os"
	"strings"
	"testing"

	"github.com/bindery/bindery/events"
)

// The docs say what the code does (issue 13, finding 8): the amr of a
// mini-program login as the id_token carries it, and what the loser of a
// race for one bind ticket gets.
func TestDocsMatchLogin(t *testing.T) {
	read := func(path string) string {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	sessionsDoc := read("../../../docs/sessions.md")
	for kind, want := range map[string]string{events.AppKindWeChat: `["wechat"]`, events.AppKindHost: `["host"]`} {
		got := `["` + strings.Join(amr(kind), `","`) + `"]`
		if got != want || !strings.Contains(sessionsDoc, "`"+want+"`") {
			t.Errorf("amr of a %s login is %s; docs/sessions.md must say `%s`", kind, got, want)
		}
	}
	loginDoc := read("../../../docs/login.md")
	if !strings.Contains(loginDoc, "the other gets 409 `"+"already_bound"+"`") {
		t.Error("docs/login.md must say that the loser of a ticket race gets 409 `already_bound` (handlers.TestBindingRace asserts it)")
	}
}
