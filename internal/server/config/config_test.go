package config

import (
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, vars map[string]string) (*Config, error) {
	t.Helper()
	base := map[string]string{"BINDERY_ADMIN_TOKEN": "0123456789abcdef0123456789abcdef"}
	for k, v := range vars {
		base[k] = v
	}
	return Load(nil, func(k string) string { return base[k] }, false)
}

func TestNATSSyncDefaultsToGroup(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSSync != "group" || c.NATSSyncInterval != 0 {
		t.Fatalf("NATSSync %q, interval %v by default, want group (on disk before acknowledged)", c.NATSSync, c.NATSSyncInterval)
	}
	if !strings.Contains(Usage(), "BINDERY_NATS_SYNC") {
		t.Fatal("Usage does not list BINDERY_NATS_SYNC")
	}
}

func TestNATSSyncSetting(t *testing.T) {
	for _, tc := range []struct {
		vars     map[string]string
		policy   string
		interval time.Duration
		wantErr  string
	}{
		{map[string]string{"BINDERY_NATS_SYNC": "group"}, "group", 0, ""},
		{map[string]string{"BINDERY_NATS_SYNC": "always"}, "always", 0, ""},
		{map[string]string{"BINDERY_NATS_SYNC": "2m"}, "interval", 2 * time.Minute, ""},
		{map[string]string{"BINDERY_NATS_SYNC": "100ms"}, "interval", 100 * time.Millisecond, ""},
		{map[string]string{"BINDERY_NATS_SYNC": "never"}, "", 0, "BINDERY_NATS_SYNC: group, always, or a duration"},
		{map[string]string{"BINDERY_NATS_SYNC": "1ms"}, "", 0, "BINDERY_NATS_SYNC: group, always, or a duration"},
		{map[string]string{"BINDERY_NATS_SYNC": "1h"}, "", 0, "BINDERY_NATS_SYNC: group, always, or a duration"},
		{map[string]string{"BINDERY_NATS_SYNC": "2m", "BINDERY_NATS_URL": "nats://n1:4222"}, "", 0, "applies to the embedded server only"},
		{map[string]string{"BINDERY_NATS_SYNC": "always", "BINDERY_NATS_URL": "nats://n1:4222"}, "", 0, "applies to the embedded server only"},
		{map[string]string{"BINDERY_NATS_URL": "nats://n1:4222"}, "group", 0, ""},
	} {
		c, err := load(t, tc.vars)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: error %v, want %q", tc.vars, err, tc.wantErr)
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tc.vars, err)
		case tc.wantErr == "" && (c.NATSSync != tc.policy || c.NATSSyncInterval != tc.interval):
			t.Errorf("%v: NATSSync %q, interval %v; want %q, %v", tc.vars, c.NATSSync, c.NATSSyncInterval, tc.policy, tc.interval)
		}
	}
}

func TestNATSSyncFlagWins(t *testing.T) {
	c, err := Load([]string{"-nats-sync", "5s"}, func(k string) string {
		return map[string]string{"BINDERY_ADMIN_TOKEN": "0123456789abcdef0123456789abcdef", "BINDERY_NATS_SYNC": "group"}[k]
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSSync != "interval" || c.NATSSyncInterval != 5*time.Second {
		t.Fatalf("NATSSyncInterval %v, want 5s from the flag", c.NATSSyncInterval)
	}
}
