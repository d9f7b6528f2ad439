package oidcclient_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bindery/bindery/domain/oidcclient"
	"github.com/bindery/bindery/events"
)

func spec(typ string) oidcclient.Spec {
	return oidcclient.Spec{Name: "Wiki", App: "demo", Type: typ, RedirectURIs: []string{"https://wiki.example.com/cb", "http://127.0.0.1:8080/cb"}}
}

func TestNormalizeDefaults(t *testing.T) {
	s, err := spec(oidcclient.Confidential).Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.GrantTypes, []string{"authorization_code", "refresh_token"}) {
		t.Errorf("grant_types %v", s.GrantTypes)
	}
	if !slices.Equal(s.Scopes, []string{"email", "offline_access", "openid", "phone", "profile", "roles"}) {
		t.Errorf("scopes %v", s.Scopes)
	}
	if !slices.Equal(s.RedirectURIs, []string{"http://127.0.0.1:8080/cb", "https://wiki.example.com/cb"}) {
		t.Errorf("redirect_uris %v", s.RedirectURIs)
	}
}

func TestNormalizeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*oidcclient.Spec)
		want string
	}{
		{"no name", func(s *oidcclient.Spec) { s.Name = " " }, "name:"},
		{"bad app", func(s *oidcclient.Spec) { s.App = "Demo!" }, "app:"},
		{"bad type", func(s *oidcclient.Spec) { s.Type = "spa" }, "type:"},
		{"no redirect", func(s *oidcclient.Spec) { s.RedirectURIs = nil }, "redirect_uris: at least one"},
		{"relative redirect", func(s *oidcclient.Spec) { s.RedirectURIs = []string{"/cb"} }, "not an absolute URI"},
		{"fragment", func(s *oidcclient.Spec) { s.RedirectURIs = []string{"https://a.example/cb#x"} }, "fragment"},
		{"http remote", func(s *oidcclient.Spec) { s.RedirectURIs = []string{"http://a.example/cb"} }, "use https"},
		{"credentials", func(s *oidcclient.Spec) { s.RedirectURIs = []string{"https://u:p@a.example/cb"} }, "credentials"},
		{"javascript", func(s *oidcclient.Spec) { s.RedirectURIs = []string{"javascript:alert(1)"} }, "private-use scheme"},
		{"data", func(s *oidcclient.Spec) { s.RedirectURIs = []string{"data:text/html,x"} }, "private-use scheme"},
		{"ftp", func(s *oidcclient.Spec) { s.RedirectURIs = []string{"ftp://files.example/cb"} }, "private-use scheme"},
		{"logout javascript", func(s *oidcclient.Spec) { s.PostLogoutRedirectURIs = []string{"javascript:alert(1)"} }, "private-use scheme"},
		{"bad grant", func(s *oidcclient.Spec) { s.GrantTypes = []string{"implicit"} }, "grant_types:"},
		{"bad scope", func(s *oidcclient.Spec) { s.Scopes = []string{"openid", "admin"} }, "scopes:"},
		{"no openid", func(s *oidcclient.Spec) { s.Scopes = []string{"profile"} }, "must include openid"},
		{"bad logout uri", func(s *oidcclient.Spec) { s.BackchannelLogoutURI = "nope" }, "backchannel_logout_uri"},
	} {
		s := spec(oidcclient.Public)
		tc.edit(&s)
		if _, err := s.Normalize(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func apply(c *oidcclient.Client, evs []events.Event) {
	for _, e := range evs {
		c.Apply(events.Record{Event: e})
	}
}

func TestPutAndDelete(t *testing.T) {
	conf, _ := spec(oidcclient.Confidential).Normalize()
	pub, _ := spec(oidcclient.Public).Normalize()
	c := oidcclient.New("wiki")
	if _, err := c.Put(conf, ""); !errors.Is(err, oidcclient.ErrSecretRequired) {
		t.Fatalf("confidential without secret: %v", err)
	}
	if _, err := c.Put(pub, "sealed"); !errors.Is(err, oidcclient.ErrSecretNotAllowed) {
		t.Fatalf("public with secret: %v", err)
	}
	evs, err := c.Put(conf, "sealed")
	if err != nil || len(evs) != 1 {
		t.Fatalf("register: %v %v", evs, err)
	}
	if _, ok := evs[0].(events.OIDCClientRegistered); !ok {
		t.Fatalf("register: %T", evs[0])
	}
	apply(c, evs)
	if !c.Exists() || c.SecretSealed() != "sealed" {
		t.Fatal("state after register")
	}
	if evs, err := c.Put(conf, ""); err != nil || len(evs) != 0 {
		t.Fatalf("repeat: %v %v", evs, err)
	}
	conf2 := conf
	conf2.Name = "Wiki 2"
	evs, err = c.Put(conf2, "")
	if u, ok := evs[0].(events.OIDCClientUpdated); err != nil || !ok || u.SecretSealed != "" || u.Name != "Wiki 2" {
		t.Fatalf("update: %v %v", evs, err)
	}
	apply(c, evs)
	if c.SecretSealed() != "sealed" {
		t.Fatal("update lost the secret")
	}
	// Becoming public drops the secret; becoming confidential again needs one.
	evs, _ = c.Put(pub, "")
	apply(c, evs)
	if c.SecretSealed() != "" || c.Spec().Type != oidcclient.Public {
		t.Fatal("public keeps a secret")
	}
	if _, err := c.Put(conf, ""); !errors.Is(err, oidcclient.ErrTypeChangeRefused) {
		t.Fatalf("to confidential without secret: %v", err)
	}
	evs, err = c.Delete()
	if err != nil {
		t.Fatal(err)
	}
	apply(c, evs)
	if c.Exists() {
		t.Fatal("exists after delete")
	}
	if _, err := c.Delete(); !errors.Is(err, oidcclient.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestNormalizeTakesNativeAppSchemes(t *testing.T) {
	s := spec(oidcclient.Public)
	s.RedirectURIs = []string{"com.example.app:/oauth2redirect", "http://[::1]:7000/cb"}
	if _, err := s.Normalize(); err != nil {
		t.Fatalf("a reverse-domain private-use scheme and an IPv6 loopback: %v", err)
	}
}
