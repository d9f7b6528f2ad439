package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"testing"

	"golang.org/x/oauth2"
)

// prompt=consent (which relying parties send with offline_access to get a
// refresh token) and prompt=select_account sign in as usual: the hosted page,
// then a code whose exchange carries a refresh token (docs/sso.md, section 4).
func TestPromptConsentAndSelectAccountSignInAsUsual(t *testing.T) {
	e := startAlt(t)
	e.account(map[string]any{"username": "cora", "password": "cora-password-1"})
	conf := *e.conf
	conf.Scopes = append([]string{"offline_access"}, conf.Scopes...)
	offline := &altEnv{loginEnv: e.loginEnv, conf: &conf}
	for _, prompt := range []string{"consent", "select_account"} {
		p := offline.open(oauth2.SetAuthURLParam("prompt", prompt))
		status, out := p.call("password", map[string]any{"username": "cora", "password": "cora-password-1"})
		if status != http.StatusOK {
			t.Fatalf("prompt=%s: sign-in %d %v", prompt, status, out)
		}
		to, _ := out["redirect"].(string)
		back := p.b.Get(to)
		loc, err := url.Parse(back.Header.Get("Location"))
		if err != nil || loc.Query().Get("code") == "" {
			t.Fatalf("prompt=%s: landed at %d %s (Location %q)", prompt, back.Status, back.URL, back.Header.Get("Location"))
		}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.Client)
		tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(p.verifier))
		if err != nil || tok.RefreshToken == "" || tok.Extra("id_token") == nil {
			t.Fatalf("prompt=%s: exchange %v, refresh token %q", prompt, err, tok.RefreshToken)
		}
	}
}

// response_mode=form_post (discovery lists it): after the sign-in the
// browser gets a page that posts code and state to the redirect URI, and
// the code exchanges as any other.
func TestResponseModeFormPost(t *testing.T) {
	e := startAlt(t)
	e.account(map[string]any{"username": "fern", "password": "fern-password-1"})
	d := e.Do("GET", "/.well-known/openid-configuration", nil).Map(t)
	var modes []string
	for _, m := range d["response_modes_supported"].([]any) {
		modes = append(modes, m.(string))
	}
	if !slices.Contains(modes, "form_post") || !slices.Contains(modes, "query") {
		t.Fatalf("response modes: %v", modes)
	}
	p := e.open(oauth2.SetAuthURLParam("response_mode", "form_post"))
	status, out := p.call("password", map[string]any{"username": "fern", "password": "fern-password-1"})
	if status != http.StatusOK {
		t.Fatalf("sign-in: %d %v", status, out)
	}
	page := p.b.Get(out["redirect"].(string))
	action := regexp.MustCompile(`<form method="post" action="([^"]+)">`).FindStringSubmatch(page.Body)
	code := regexp.MustCompile(`name="code" value="([^"]+)"`).FindStringSubmatch(page.Body)
	state := regexp.MustCompile(`name="state" value="([^"]+)"`).FindStringSubmatch(page.Body)
	if page.Status != http.StatusOK || action == nil || action[1] != altRedirect || code == nil || state == nil || state[1] != "st4te" {
		t.Fatalf("form_post page: %d %s", page.Status, page.Body)
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.Client)
	if tok, err := e.conf.Exchange(ctx, code[1], oauth2.VerifierOption(p.verifier)); err != nil || tok.Extra("id_token") == nil {
		t.Fatalf("exchange of the posted code: %v", err)
	}
}
