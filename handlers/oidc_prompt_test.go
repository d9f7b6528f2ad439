package handlers_test

import (
	"context"
	"net/http"
	"net/url"
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
