package config

import (
	"strings"
	"testing"
)

func loadEnv(t *testing.T, dev bool, env map[string]string) (*Config, error) {
	t.Helper()
	return Load(nil, func(k string) string { return env[k] }, dev)
}

const strong = "0123456789abcdef0123456789abcdef"

// Issue 13, finding 2: the sample token of docker-compose.yml and short
// tokens stop start-up with one line naming BINDERY_ADMIN_TOKEN.
func TestWeakAdminTokensRefused(t *testing.T) {
	for _, tok := range []string{"change-me-to-a-long-random-token", "dev", "0123456789abcdef", strong[:31]} {
		_, err := loadEnv(t, false, map[string]string{"BINDERY_ADMIN_TOKEN": tok})
		if err == nil {
			t.Fatalf("%q accepted", tok)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "BINDERY_ADMIN_TOKEN: ") || strings.Contains(msg, tok) {
			t.Fatalf("%q: %q", tok, msg)
		}
	}
	if _, err := loadEnv(t, false, nil); err == nil || !strings.HasPrefix(err.Error(), "BINDERY_ADMIN_TOKEN: required") {
		t.Fatalf("no token: %v", err)
	}
	if _, err := loadEnv(t, false, map[string]string{"BINDERY_ADMIN_TOKENS": "ci=change-me-to-a-long-random-token"}); err == nil || !strings.Contains(err.Error(), "BINDERY_ADMIN_TOKENS") {
		t.Fatalf("sample in the list: %v", err)
	}
	c, err := loadEnv(t, false, map[string]string{"BINDERY_ADMIN_TOKEN": strong})
	if err != nil || c.AdminToken != strong || c.AdminTokens["admin"] != strong {
		t.Fatalf("strong: %+v %v", c, err)
	}
	// Dev mode: "dev" by default, and only there.
	c, err = loadEnv(t, true, nil)
	if err != nil || c.AdminToken != "dev" || len(c.AdminTokens) != 1 {
		t.Fatalf("dev: %+v %v", c, err)
	}
	if _, err := loadEnv(t, true, map[string]string{"BINDERY_ADMIN_TOKEN": "change-me-to-a-long-random-token"}); err == nil {
		t.Fatal("dev mode accepted the sample token")
	}
}

func TestNamedAdminTokens(t *testing.T) {
	ci, ops := strings.Repeat("c", 8)+strong, strings.Repeat("o", 8)+strong
	c, err := loadEnv(t, false, map[string]string{"BINDERY_ADMIN_TOKEN": strong, "BINDERY_ADMIN_TOKENS": "ci=" + ci + ", ops.alice=" + ops})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.AdminTokens) != 3 || c.AdminTokens["admin"] != strong || c.AdminTokens["ci"] != ci || c.AdminTokens["ops.alice"] != ops {
		t.Fatalf("%v", c.AdminTokens)
	}
	c, err = loadEnv(t, false, map[string]string{"BINDERY_ADMIN_TOKENS": "ci=" + ci})
	if err != nil || c.AdminToken != "" || c.AdminTokens["ci"] != ci {
		t.Fatalf("list only: %+v %v", c, err)
	}
	for _, list := range []string{"ci", "CI=" + ci, "ci=" + ci + ",ci=" + ops, "admin=" + ci, "ci=" + strong, "a=" + ci + ",b=" + ci} {
		_, err := loadEnv(t, false, map[string]string{"BINDERY_ADMIN_TOKEN": strong, "BINDERY_ADMIN_TOKENS": list})
		if err == nil || !strings.Contains(err.Error(), "BINDERY_ADMIN_TOKENS") || strings.Contains(err.Error(), strong) || strings.Contains(err.Error(), ci) {
			t.Fatalf("%q: %v", list, err)
		}
	}
}
