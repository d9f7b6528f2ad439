package devstack

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	bjs "github.com/bindery/bindery/events/jetstream"
)

// A web app's tokens over real HTTP, with go-oidc and x/oauth2 (PKCE
// S256) against Bindery on its embedded NATS: refresh rotation through
// TokenSource, reuse revoking the family, revocation (RFC 7009) and
// introspection (RFC 7662), a second use of a code revoking what the first
// issued, a disabled account's tokens, a wrong PKCE verifier. Then no
// code, token, cookie or secret of it all is in any stored event or log.
func TestSSOTokens(t *testing.T) {
	t.Parallel()
	st, logs := startStack(t, "")
	r := newSSORP(t, st.URL)
	const secret = "wiki-secret-0123456789abcdef"
	wiki := r.register(t, "wiki", secret, "profile", "offline_access")
	spa := r.register(t, "spa", "", "profile", "offline_access")
	idToken, accountID := miniProgramUser(t, st, "Ada")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var secrets []string
	keep := func(vals ...string) {
		for _, v := range vals {
			if v != "" {
				secrets = append(secrets, v)
			}
		}
	}
	keep(secret, idToken)
	flow := func(conf *oauth2.Config) (flowOut, *oauth2.Token) {
		t.Helper()
		f, err := r.signIn(ctx, conf, idToken)
		if err != nil {
			t.Fatal(err)
		}
		keep(f.Code, f.Verifier)
		keep(f.Cookies...)
		tok, err := exchange(ctx, conf, f)
		if err != nil {
			t.Fatalf("%s: exchange: %v", conf.ClientID, err)
		}
		idt, _ := tok.Extra("id_token").(string)
		keep(tok.AccessToken, tok.RefreshToken, idt)
		if tok.RefreshToken == "" {
			t.Fatalf("%s: no refresh token for offline_access", conf.ClientID)
		}
		return f, tok
	}
	active := func(tok string) bool {
		t.Helper()
		out, err := introspect(ctx, st.URL, wiki, tok)
		if err != nil {
			t.Fatalf("introspect: %v", err)
		}
		return out["active"] == true
	}

	// The public client: a wrong PKCE verifier first (invalid_grant, the
	// code stays good), then refresh rotation, then reuse.
	f, err := r.signIn(ctx, spa, idToken)
	if err != nil {
		t.Fatal(err)
	}
	keep(f.Code)
	keep(f.Cookies...)
	if _, err := spa.Exchange(ctx, f.Code, oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("wrong PKCE verifier: %v", err)
	}
	first, err := exchange(ctx, spa, f)
	if err != nil {
		t.Fatal(err)
	}
	keep(first.AccessToken, first.RefreshToken)
	second, err := refreshed(ctx, spa, first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	keep(second.AccessToken, second.RefreshToken)
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("the refresh did not rotate")
	}
	if ui, err := r.userinfoOf(ctx, second.AccessToken); err != nil || ui.Subject != accountID {
		t.Fatalf("userinfo with a refreshed token: %v %v", ui, err)
	}
	if !active(second.AccessToken) || !active(first.AccessToken) {
		t.Fatal("live tokens introspect inactive")
	}
	if _, err := refreshed(ctx, spa, first.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("reuse of a rotated refresh token: %v", err)
	}
	if _, err := refreshed(ctx, spa, second.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("the newest refresh token after reuse: %v", err)
	}
	if active(second.AccessToken) || active(first.AccessToken) {
		t.Fatal("access tokens of a reuse-revoked family introspect active")
	}
	if _, err := r.userinfoOf(ctx, second.AccessToken); err == nil {
		t.Fatal("userinfo answers for a reuse-revoked family")
	}

	// The confidential client: introspection's claims, revocation of the
	// access token (its refresh token lives on), then of the refresh token.
	_, tok := flow(wiki)
	got, err := introspect(ctx, st.URL, wiki, tok.AccessToken)
	if err != nil || got["active"] != true || got["sub"] != accountID || got["client_id"] != "wiki" || got["iss"] != st.URL ||
		!strings.Contains(got["scope"].(string), "offline_access") || got["exp"] == nil || got["iat"] == nil || got["jti"] == nil {
		t.Fatalf("introspection: %v %v", got, err)
	}
	if _, err := revoke(ctx, st.URL, spa, tok.AccessToken, "access_token"); !isOAuthError(err, "unauthorized_client") || !active(tok.AccessToken) {
		t.Fatalf("another client revoking: %v", err)
	}
	if _, err := revoke(ctx, st.URL, wiki, tok.AccessToken, ""); err != nil {
		t.Fatal(err)
	}
	if active(tok.AccessToken) {
		t.Fatal("a revoked access token introspects active")
	}
	if _, err := r.userinfoOf(ctx, tok.AccessToken); err == nil {
		t.Fatal("userinfo answers for a revoked access token")
	}
	next, err := refreshed(ctx, wiki, tok.RefreshToken)
	if err != nil || !active(next.AccessToken) {
		t.Fatalf("refresh after revoking the access token: %v", err)
	}
	keep(next.AccessToken, next.RefreshToken)
	if _, err := revoke(ctx, st.URL, wiki, next.RefreshToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if _, err := revoke(ctx, st.URL, wiki, next.RefreshToken, "refresh_token"); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := refreshed(ctx, wiki, next.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("refresh after revocation: %v", err)
	}
	if active(next.AccessToken) {
		t.Fatal("an access token of a revoked family introspects active")
	}
	if _, err := revoke(ctx, st.URL, wiki, "not-a-token", ""); err != nil {
		t.Fatalf("revoking an unknown token: %v", err)
	}

	// A second use of a code: invalid_grant, and what the first use
	// issued is dead.
	f, tok = flow(wiki)
	if _, err := exchange(ctx, wiki, f); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("second use of a code: %v", err)
	}
	if active(tok.AccessToken) {
		t.Fatal("the first use's access token is active after a second use")
	}
	if _, err := refreshed(ctx, wiki, tok.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("the first use's refresh token after a second use: %v", err)
	}

	// A disabled account's tokens count no more.
	_, tok = flow(wiki)
	if !active(tok.AccessToken) {
		t.Fatal("fresh token inactive")
	}
	adminJSON(t, "POST", st.URL+"/v1/accounts/"+accountID+"/disable", nil)
	if active(tok.AccessToken) {
		t.Fatal("a disabled account's access token introspects active")
	}
	if _, err := refreshed(ctx, wiki, tok.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("a disabled account's refresh: %v", err)
	}

	// No code, token, cookie or secret in any stored event or log line.
	names := map[string]bool{}
	scan := func(where, text string) {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a secret (%.12s…)", where, s)
			}
		}
	}
	js := st.App.Store.JetStream()
	for _, name := range []string{bjs.HistoryStream, bjs.AuthLogStream} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if err != nil {
				continue
			}
			scan(m.Subject, string(m.Data))
			if i := strings.LastIndex(m.Subject, "."); i > 0 {
				names[m.Subject[i+1:]] = true
			}
		}
	}
	scan("the logs", logs.String())
	for _, want := range []string{"token_revoked", "session_issued", "session_refreshed", "session_reuse_detected", "session_revoked", "code_exchanged", "browser_session_started"} {
		if !names[want] {
			t.Errorf("no %s stored: the scan did not see the flows", want)
		}
	}
	if len(secrets) < 20 {
		t.Fatalf("only %d values scanned", len(secrets))
	}
}
