package cluster_test

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The module root, from this package's directory.
var root = filepath.Join("..", "..", "..")

// composeFile is the part of docker-compose.yml the test reads (yaml.v3
// resolves the anchors and merge keys).
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Configs     []struct {
			Source string `yaml:"source"`
		} `yaml:"configs"`
		Volumes []string `yaml:"volumes"`
	} `yaml:"services"`
	Configs map[string]struct {
		Content string `yaml:"content"`
	} `yaml:"configs"`
}

// moduleVersion is the version go.mod requires of module path.
func moduleVersion(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == path {
			return fields[1]
		}
	}
	t.Fatalf("go.mod does not require %s", path)
	return ""
}

// docker-compose.yml is the shape the fault tests run: three JetStream
// nodes with routes to each other that fsync before acknowledging, two
// bindery replicas on all three with R3 streams, and the nodes run the
// nats-server that go.mod builds into Bindery (the embedded server and
// the cluster tests): the same version, not just the same minor.
func TestComposeIsTheTestedShape(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	want := "nats:" + strings.TrimPrefix(moduleVersion(t, "github.com/nats-io/nats-server/v2"), "v") + "-alpine"
	nodes := []string{"nats1", "nats2", "nats3"}
	for _, name := range nodes {
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if s.Image != want {
			t.Errorf("%s: image %q, want %q (go.mod's nats-server)", name, s.Image, want)
		}
		cmd := strings.Join(s.Command, " ")
		if !slices.Contains(s.Command, "-js") || !strings.Contains(cmd, "--cluster_name bindery") {
			t.Errorf("%s: not a JetStream cluster node: %s", name, cmd)
		}
		for _, other := range nodes {
			if other != name && !strings.Contains(cmd, "nats://"+other+":6222") {
				t.Errorf("%s: no route to %s: %s", name, other, cmd)
			}
		}
		if len(s.Configs) != 1 || !strings.Contains(c.Configs[s.Configs[0].Source].Content, "sync_interval: always") {
			t.Errorf("%s: its configuration does not fsync before acknowledging (sync_interval: always)", name)
		}
	}
	replicas := 0
	for name, s := range c.Services {
		if !strings.HasPrefix(name, "bindery") {
			continue
		}
		replicas++
		if s.Environment["BINDERY_REPLICAS"] != "3" {
			t.Errorf("%s: BINDERY_REPLICAS %q, want 3 (R3 streams)", name, s.Environment["BINDERY_REPLICAS"])
		}
		for _, n := range nodes {
			if !strings.Contains(s.Environment["BINDERY_NATS_URL"], "nats://"+n+":4222") {
				t.Errorf("%s: BINDERY_NATS_URL %q does not name %s", name, s.Environment["BINDERY_NATS_URL"], n)
			}
		}
	}
	if replicas != 2 {
		t.Errorf("%d bindery replicas, want 2 (the fault tests run two)", replicas)
	}
}
