package handlers_test

import (
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/bindery/bindery/docs"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// Every registered route is described in docs/openapi.yaml, and the file
// is served at /openapi.yaml.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	env := testenv.Start(t, "", nil)
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	for _, r := range env.App.API.Echo().Routes() {
		if r.Method == "echo_route_not_found" || strings.HasSuffix(r.Path, "/*") && strings.HasPrefix(r.Path, "/demo") {
			continue
		}
		path := param.ReplaceAllString(r.Path, "{$1}")
		ops, ok := doc.Paths[path]
		if !ok {
			t.Errorf("route %s %s is not in openapi.yaml", r.Method, path)
			continue
		}
		if _, ok := ops[strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s: method not in openapi.yaml", r.Method, path)
		}
	}
	r := env.Do("GET", "/openapi.yaml", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "openapi: 3.1") {
		t.Fatalf("served openapi: %d", r.Status)
	}
}
