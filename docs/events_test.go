package docs_test

import (
	"os"
	"strings"
	"testing"

	"github.com/bindery/bindery/events"
)

// docs/events.md lists every event type the catalogue registers.
func TestEventsDocListsEveryType(t *testing.T) {
	doc, err := os.ReadFile("events.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range events.Catalogue().Names() {
		short := strings.TrimSuffix(strings.TrimPrefix(name, "bindery."), ".v1")
		if !strings.Contains(string(doc), "`"+name+"`") || !strings.Contains(string(doc), "### `"+short+"`") {
			t.Errorf("docs/events.md does not describe %s (add a section \"### `%s`\" naming the type)", name, short)
		}
	}
}
