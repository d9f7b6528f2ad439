package app_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/app"
	"github.com/bindery/bindery/events"
)

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"shop": true, "a1": true, "my-app-2": true, "0x": true,
		"": false, "a": false, "-shop": false, "Shop": false, "sh_op": false, "sh.op": false, "sh op": false,
		"a234567890123456789012345678901234567890123456789012345678901234": false, // 64
		"a23456789012345678901234567890123456789012345678901234567890123":  true,  // 63
	} {
		if got := app.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	wechat := func(mod func(*app.Config)) app.Config {
		c := app.Config{Kind: "wechat", WeChatAppID: "wx123"}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	cases := []struct {
		name string
		in   app.Config
		ok   bool
	}{
		{"defaults", wechat(nil), true},
		{"no kind", app.Config{}, false},
		{"bad kind", app.Config{Kind: "oauth"}, false},
		{"wechat without appid", app.Config{Kind: "wechat"}, false},
		{"host with appid", app.Config{Kind: "host", WeChatAppID: "wx1"}, false},
		{"host", app.Config{Kind: "host"}, true},
		{"rules in order", wechat(func(c *app.Config) { c.MatchRules = []string{"phone", "unionid", "openid", "email", "external_id"} }), true},
		{"unknown rule", wechat(func(c *app.Config) { c.MatchRules = []string{"openid", "qq"} }), false},
		{"duplicate rule", wechat(func(c *app.Config) { c.MatchRules = []string{"openid", "openid"} }), false},
		{"register", wechat(func(c *app.Config) { c.OnNoMatch = "register" }), true},
		{"bad on_no_match", wechat(func(c *app.Config) { c.OnNoMatch = "create" }), false},
		{"verify", wechat(func(c *app.Config) { c.SourceMode, c.SourceURL = "verify", "https://erp.example.com/check" }), true},
		{"verify without url", wechat(func(c *app.Config) { c.SourceMode = "verify" }), false},
		{"verify with ftp url", wechat(func(c *app.Config) { c.SourceMode, c.SourceURL = "verify", "ftp://x" }), false},
		{"verify url with credentials", wechat(func(c *app.Config) { c.SourceMode, c.SourceURL = "verify", "https://u:p@x" }), false},
		{"local with url", wechat(func(c *app.Config) { c.SourceMode, c.SourceURL = "local", "https://x" }), false},
		{"bad mode", wechat(func(c *app.Config) { c.SourceMode = "ldap" }), false},
		{"mapping", wechat(func(c *app.Config) {
			c.FieldMapping = map[string]string{"empNo": "external_id", "mobile": "phone", "dept": "attributes.dept"}
		}), true},
		{"mapping to unknown field", wechat(func(c *app.Config) { c.FieldMapping = map[string]string{"x": "salary"} }), false},
		{"mapping twice to one field", wechat(func(c *app.Config) { c.FieldMapping = map[string]string{"a": "phone", "b": "phone"} }), false},
		{"mapping empty attribute", wechat(func(c *app.Config) { c.FieldMapping = map[string]string{"a": "attributes."} }), false},
		{"qr link", wechat(func(c *app.Config) { c.QRMode = "link" }), true},
		{"qr wxacode page", wechat(func(c *app.Config) { c.QRMode, c.QRPage = "wxacode", "pages/login/index" }), true},
		{"qr page with slash", wechat(func(c *app.Config) { c.QRMode, c.QRPage = "wxacode", "/pages/x" }), false},
		{"qr page with query", wechat(func(c *app.Config) { c.QRMode, c.QRPage = "link", "pages/x?a=1" }), false},
		{"qr page without mode", wechat(func(c *app.Config) { c.QRPage = "pages/x" }), false},
		{"qr bad mode", wechat(func(c *app.Config) { c.QRMode = "nfc" }), false},
		{"wxacode for host", app.Config{Kind: "host", QRMode: "wxacode"}, false},
		{"long name", wechat(func(c *app.Config) { c.Name = string(make([]byte, 129)) }), false},
	}
	for _, c := range cases {
		out, err := c.in.Check()
		if (err == nil) != c.ok {
			t.Errorf("%s: Check(%+v) error %v, want ok=%v", c.name, c.in, err, c.ok)
			continue
		}
		var de *domain.Error
		if err != nil && (!errors.As(err, &de) || de.Code != "validation_failed") {
			t.Errorf("%s: error %v is not validation_failed", c.name, err)
		}
		if c.name == "defaults" && (!slices.Equal(out.MatchRules, []string{"unionid", "openid"}) || out.OnNoMatch != "bind" || out.SourceMode != "local") {
			t.Errorf("defaults: %+v", out)
		}
		if c.name == "host" && !slices.Equal(out.MatchRules, []string{"openid", "external_id"}) {
			t.Errorf("host defaults: %+v", out)
		}
		if c.name == "qr link" && out.QRPage != app.DefaultQRPage {
			t.Errorf("qr default page: %q", out.QRPage)
		}
	}
}

func TestPut(t *testing.T) {
	cfg, err := app.Config{Kind: "wechat", WeChatAppID: "wx1"}.Check()
	if err != nil {
		t.Fatal(err)
	}
	a := app.New("shop")
	// A new app needs its secret.
	if _, err := a.Put(cfg); err == nil {
		t.Fatal("created without a secret")
	}
	withSecret := cfg
	withSecret.SecretSealed = "v1:sealed-1"
	evs, err := a.Put(withSecret)
	if err != nil || len(evs) != 1 {
		t.Fatalf("create: %v %v", evs, err)
	}
	reg := evs[0].(events.AppRegistered)
	a.Apply(events.Record{Event: reg})
	// The same config again, without the secret: nothing happens.
	if evs, err := a.Put(cfg); err != nil || len(evs) != 0 {
		t.Fatalf("no-op update: %v %v", evs, err)
	}
	// A change keeps the stored secret.
	renamed := cfg
	renamed.Name = "Shop"
	evs, err = a.Put(renamed)
	if err != nil || len(evs) != 1 {
		t.Fatalf("update: %v %v", evs, err)
	}
	up := evs[0].(events.AppUpdated)
	if up.SecretSealed != "v1:sealed-1" || up.SecretChanged || up.Name != "Shop" {
		t.Fatalf("update event: %+v", up)
	}
	a.Apply(events.Record{Event: up})
	// A new kind needs a new secret.
	host, _ := app.Config{Kind: "host"}.Check()
	if _, err := a.Put(host); err == nil {
		t.Fatal("kind changed without a secret")
	}
	// Verify mode needs its secret.
	verify := cfg
	verify.SourceMode, verify.SourceURL = "verify", "https://erp.example.com"
	if _, err := a.Put(verify); err == nil {
		t.Fatal("verify mode without a secret")
	}
	verify.SourceSecretSealed = "v1:sealed-2"
	evs, err = a.Put(verify)
	if err != nil || !evs[0].(events.AppUpdated).VerifySecretChanged {
		t.Fatalf("verify: %v %v", evs, err)
	}
}
