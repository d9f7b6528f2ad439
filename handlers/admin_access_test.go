package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/bindery/bindery/domain/browsersession"
	"github.com/bindery/bindery/events"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
	"github.com/bindery/bindery/internal/crypto/hostcode"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

const accessHostSecret = "host-secret-0123456789"

// hostIDToken logs the host app's user externalID in (a mini-program
// user) and answers the id_token.
func hostIDToken(t *testing.T, env *testenv.Env, externalID string) string {
	t.Helper()
	r := env.Do("POST", "/v1/apps/crm/login/code", `{"code":"`+hostcode.Mint([]byte(accessHostSecret), externalID, time.Now().Add(time.Minute), hostcode.NewNonce())+`"}`)
	idt, _ := r.Map(t)["id_token"].(string)
	if r.Status != 200 || idt == "" {
		t.Fatalf("host login %s: %d %s", externalID, r.Status, r.Body)
	}
	return idt
}

// webAppToken signs the mini-program user holding idToken in to the web
// app clientID (a stock x/oauth2 client, PKCE S256, in a fresh browser:
// the QR code is scanned and confirmed through the API) and answers its
// token response.
func webAppToken(t *testing.T, env *testenv.Env, clientID, secret, redirect, idToken string) *oauth2.Token {
	t.Helper()
	conf := &oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: env.URL + "/oauth2/authorize", TokenURL: env.URL + "/oauth2/token"}}
	verifier := oauth2.GenerateVerifier()
	b := env.NewBrowser()
	u, _ := url.Parse(redirect)
	b.Stop = u.Path
	back := b.SignInQR(b.Get(conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier))), idToken)
	loc, err := url.Parse(back.Header.Get("Location"))
	if back.Status/100 != 3 || err != nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st4te" {
		t.Fatalf("sign-in to %s landed at %d %s (Location %q)", clientID, back.Status, back.URL, back.Header.Get("Location"))
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, env.Client)
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange for %s: %v", clientID, err)
	}
	return tok
}

func claim(t *testing.T, jwt, name string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	if err != nil || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("not a JWT: %q", jwt)
	}
	v, _ := m[name].(string)
	return v
}

func problemCode(t *testing.T, r testenv.Response) string {
	t.Helper()
	var p struct{ Code string }
	_ = json.Unmarshal(r.Body, &p)
	return p.Code
}

// The admin API takes an administrator's access token (issued by Bindery's
// OpenID Provider to the console's client) and names that account as the
// actor of the events it appends; an account without bindery:admin gets
// 403 admin_permission_required; another web app's token, a forged one and
// the token of an ended browser session get 401 invalid_token.
func TestAdminAPITakesAdministratorsAccessToken(t *testing.T) {
	env := testenv.Start(t, "", nil)
	must := func(r testenv.Response) testenv.Response {
		t.Helper()
		if r.Status >= 300 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		return r
	}
	must(env.Admin("PUT", "/v1/apps/crm", `{"kind":"host","host":{"secret":"`+accessHostSecret+`"}}`))
	ada := must(env.Admin("POST", "/v1/accounts", `{"external_id":"A1","display_name":"Ada"}`)).Map(t)["id"].(string)
	must(env.Admin("POST", "/v1/accounts", `{"external_id":"B1","display_name":"Bob"}`))
	must(env.Admin("PUT", "/v1/roles/operator", `{"permissions":["bindery:admin"]}`))
	pos := must(env.Admin("POST", "/v1/accounts/"+ada+"/roles", `{"role":"operator"}`)).Header.Get("X-Bindery-Position")
	must(env.Admin("GET", "/v1/accounts/"+ada+"?min_position="+url.QueryEscape(pos), nil))
	must(env.Admin("PUT", "/v1/oidc/clients/wiki", `{"name":"Wiki","app":"crm","type":"confidential","secret":"wiki-secret-0123456789","redirect_uris":["http://127.0.0.1/wiki/cb"]}`))
	// The first console sign-in registers the console's client.
	start := env.NewBrowser()
	start.Stop = "/oauth2/authorize"
	if p := start.Get("/console/signin/start"); p.Status != http.StatusSeeOther || !strings.Contains(p.Header.Get("Location"), "client_id=bindery-console") {
		t.Fatalf("console sign-in start: %d %s %s", p.Status, p.Header.Get("Location"), p.Body)
	}
	callback := env.URL + "/console/signin/callback"
	adaTok := webAppToken(t, env, "bindery-console", "", callback, hostIDToken(t, env, "A1"))

	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	r := env.Do("POST", "/v1/accounts", `{"display_name":"Made by Ada"}`, bearer(adaTok.AccessToken)...)
	if r.Status != http.StatusCreated {
		t.Fatalf("create with Ada's access token: %d %s", r.Status, r.Body)
	}
	made := r.Map(t)["id"].(string)
	ev := must(env.Admin("GET", "/v1/audit/events?aggregate=account/"+made, nil))
	var first struct{ Actor string }
	if err := json.Unmarshal([]byte(strings.SplitN(string(ev.Body), "\n", 2)[0]), &first); err != nil || first.Actor != "account:"+ada {
		t.Fatalf("actor %q (%v), want account:%s: %s", first.Actor, err, ada, ev.Body)
	}
	if r := env.Do("GET", "/v1/accounts?q=Made", nil, bearer(adaTok.AccessToken)...); r.Status != http.StatusOK || !strings.Contains(string(r.Body), made) {
		t.Fatalf("search with Ada's access token: %d %s", r.Status, r.Body)
	}

	bobTok := webAppToken(t, env, "bindery-console", "", callback, hostIDToken(t, env, "B1"))
	r = env.Do("POST", "/v1/accounts", `{"display_name":"Made by Bob"}`, bearer(bobTok.AccessToken)...)
	if r.Status != http.StatusForbidden || problemCode(t, r) != "admin_permission_required" || !strings.Contains(r.Header.Get("Content-Type"), "problem+json") {
		t.Fatalf("Bob (no bindery:admin): %d %s, want 403 admin_permission_required", r.Status, r.Body)
	}

	wikiTok := webAppToken(t, env, "wiki", "wiki-secret-0123456789", "http://127.0.0.1/wiki/cb", hostIDToken(t, env, "A1"))
	forged := adaTok.AccessToken[:strings.LastIndex(adaTok.AccessToken, ".")+1] + "AAAA"
	for name, tok := range map[string]string{"the wiki's token": wikiTok.AccessToken, "a forged token": forged, "Ada's id_token": hostIDToken(t, env, "A1")} {
		r := env.Do("GET", "/v1/accounts/"+ada, nil, bearer(tok)...)
		if r.Status != http.StatusUnauthorized || (problemCode(t, r) != "invalid_token" && problemCode(t, r) != "unauthorized") {
			t.Errorf("%s on the admin API: %d %s, want 401", name, r.Status, r.Body)
		}
	}

	// Ada's browser session ends (as logout records it): her access
	// token stops at once.
	sid := claim(t, adaTok.Extra("id_token").(string), "sid")
	browser := appoidc.NewBrowserSessions(env.App.Store, nil)
	if _, _, err := browser.Repo.Update(context.Background(), sid, events.Meta{Actor: "account:" + ada, Time: time.Now()}, func(bs *browsersession.Session) (events.Decision, error) {
		evs, err := bs.End("logout")
		return events.Decision{Events: evs}, err
	}); err != nil {
		t.Fatal(err)
	}
	r = env.Do("GET", "/v1/accounts/"+ada, nil, bearer(adaTok.AccessToken)...)
	if r.Status != http.StatusUnauthorized || problemCode(t, r) != "invalid_token" {
		t.Fatalf("token of an ended browser session: %d %s, want 401 invalid_token", r.Status, r.Body)
	}
}
