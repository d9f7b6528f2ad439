package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/bindery/bindery/internal/devtools/natstest"
)

// An OIDC authorization started on replica A completes on replica B and its
// code is exchanged there: two bindery processes on one NATS, one issuer
// (as behind a load balancer). The browser — plain HTTP here, its cookies
// carried by hand — authorizes on A and gets A's hosted login page; the
// phone scans and confirms on B; the page's continue and the code callback
// run on B, and B's token endpoint exchanges the code (PKCE S256, client
// secret) for an id_token that verifies against B's key set and names the
// account. A second exchange on A is invalid_grant.
func TestSSOAcrossTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	ns := natstest.Server(t, "")
	addrA, addrB := freeAddr(t), freeAddr(t)
	issuer := "http://" + addrA
	env := []string{"BINDERY_NATS_URL=" + ns.ClientURL(), "BINDERY_ISSUER=" + issuer}
	a := start(t, bin, t.TempDir(), addrA, env...)
	b := start(t, bin, t.TempDir(), addrB, env...)
	urlA, urlB := "http://"+a.addr, "http://"+b.addr

	const appSecret = portalSecret
	mustCall(t, "PUT", urlA+"/v1/apps/portal", `{"name":"Portal","kind":"host","host":{"secret":"`+appSecret+`"},"match_rules":["external_id"],"on_no_match":"bind"}`, 0)
	acc := mustCall(t, "POST", urlA+"/v1/accounts", `{"external_id":"u-9","display_name":"Hedy"}`, 201)
	const redirect = "http://127.0.0.1:9/callback" // never called: the test reads the redirect
	const clientSecret = "wiki-secret-0123456789abcdef"
	mustCall(t, "PUT", urlA+"/v1/oidc/clients/wiki", fmt.Sprintf(`{"name":"Team wiki","app":"portal","type":"confidential","secret":%q,"redirect_uris":[%q]}`, clientSecret, redirect), 0)
	r := &hostReplicas{a: a, b: b}
	idToken := r.loginOK(t, b, "u-9")["id_token"].(string) // also: B's views have the app and the account

	conf := &oauth2.Config{
		ClientID: "wiki", ClientSecret: clientSecret, RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID, "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: urlA + "/oauth2/authorize", TokenURL: urlB + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	verifier := oauth2.GenerateVerifier()
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cookies := map[string]string{}
	get := func(u string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		for k, v := range cookies {
			req.AddCookie(&http.Cookie{Name: k, Value: v})
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		for _, c := range resp.Cookies() {
			cookies[c.Name] = c.Value
		}
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(body)
	}
	// onB sends what the issuer names to replica B instead.
	onB := func(u string) string { return strings.Replace(u, issuer, urlB, 1) }

	status, loc, body := get(conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-1")))
	if status != http.StatusFound || !strings.HasPrefix(loc, issuer+"/oidc/login?id=") {
		t.Fatalf("authorize on A: %d %q %s", status, loc, body)
	}
	status, _, body = get(loc) // the hosted login page, on A
	m := regexp.MustCompile(`data-qr-id="([A-Za-z0-9_-]+)"`).FindStringSubmatch(body)
	if status != http.StatusOK || m == nil || cookies["bindery_login_qr"] == "" {
		t.Fatalf("login page on A: %d %s", status, body)
	}
	qr := m[1]
	authID, _ := url.Parse(loc)

	// The phone scans and confirms on B.
	for _, step := range []string{"scan", "confirm"} {
		req, _ := http.NewRequest("POST", urlB+"/v1/qr/"+qr+"/"+step, nil)
		req.Header.Set("Authorization", "Bearer "+idToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s on B: %d", step, resp.StatusCode)
		}
	}
	// The page continues on B (the load balancer sent it there).
	status, loc, body = get(urlB + "/oidc/login/continue?id=" + url.QueryEscape(authID.Query().Get("id")) + "&qr=" + qr)
	if status != http.StatusFound || !strings.HasPrefix(loc, issuer+"/oauth2/authorize/callback") {
		t.Fatalf("continue on B: %d %q %s", status, loc, body)
	}
	status, loc, body = get(onB(loc))
	back, _ := url.Parse(loc)
	if status != http.StatusFound || !strings.HasPrefix(loc, redirect+"?") || back.Query().Get("state") != "st-1" || back.Query().Get("code") == "" {
		t.Fatalf("callback on B: %d %q %s", status, loc, body)
	}
	code := back.Query().Get("code")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange on B: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	keys := oidc.NewRemoteKeySet(ctx, urlB+"/.well-known/jwks.json")
	idt, err := oidc.NewVerifier(issuer, keys, &oidc.Config{ClientID: "wiki", SupportedSigningAlgs: []string{"EdDSA", "ES256"}}).Verify(ctx, raw)
	if err != nil || idt.Subject != acc["id"] || idt.Nonce != "n-1" {
		t.Fatalf("id_token from B: %v %+v (account %v)", err, idt, acc["id"])
	}
	onA := *conf
	onA.Endpoint.TokenURL = urlA + "/oauth2/token"
	var re *oauth2.RetrieveError
	if _, err := onA.Exchange(ctx, code, oauth2.VerifierOption(verifier)); !asRetrieve(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("the code again, on A: %v, want invalid_grant", err)
	}
}

func asRetrieve(err error, re **oauth2.RetrieveError) bool {
	e, ok := err.(*oauth2.RetrieveError)
	*re = e
	return ok
}

// The device grant across two processes on one NATS: a TV starts the
// device authorization on replica A, the phone scans the QR the TV shows
// (verification_uri_complete names it) and confirms on replica B, and the
// TV's polls on A — pending before, tokens after — get an id_token that
// verifies against A's key set and names the account.
func TestDeviceFlowAcrossTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	ns := natstest.Server(t, "")
	addrA, addrB := freeAddr(t), freeAddr(t)
	issuer := "http://" + addrA
	env := []string{"BINDERY_NATS_URL=" + ns.ClientURL(), "BINDERY_ISSUER=" + issuer}
	a := start(t, bin, t.TempDir(), addrA, env...)
	b := start(t, bin, t.TempDir(), addrB, env...)
	urlA, urlB := "http://"+a.addr, "http://"+b.addr

	mustCall(t, "PUT", urlA+"/v1/apps/portal", `{"name":"Portal","kind":"host","host":{"secret":"`+portalSecret+`"},"match_rules":["external_id"],"on_no_match":"bind"}`, 0)
	acc := mustCall(t, "POST", urlA+"/v1/accounts", `{"external_id":"u-7","display_name":"Ida"}`, 201)
	mustCall(t, "PUT", urlA+"/v1/oidc/clients/tv", `{"name":"Meeting-room TV","app":"portal","type":"public","grant_types":["urn:ietf:params:oauth:grant-type:device_code"]}`, 0)
	r := &hostReplicas{a: a, b: b}
	idToken := r.loginOK(t, b, "u-7")["id_token"].(string) // the phone, signed in on B

	form := func(u string, v url.Values) (int, map[string]any) {
		t.Helper()
		resp, err := http.PostForm(u, v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%s: %d, not JSON: %v", u, resp.StatusCode, err)
		}
		return resp.StatusCode, out
	}
	// A's view of the new client may lag its write by a moment.
	var d map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, out := form(urlA+"/oauth2/device_authorization", url.Values{"client_id": {"tv"}, "scope": {"openid profile"}})
		if status == http.StatusOK {
			d = out
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("device authorization on A: %d %v", status, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	deviceCode, _ := d["device_code"].(string)
	complete, _ := d["verification_uri_complete"].(string)
	interval, _ := d["interval"].(float64)
	if deviceCode == "" || !strings.HasPrefix(complete, issuer+"/qr/") || interval <= 0 {
		t.Fatalf("device answer on A: %v", d)
	}
	poll := func() (string, map[string]any) {
		t.Helper()
		_, out := form(urlA+"/oauth2/token", url.Values{
			"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}, "client_id": {"tv"},
		})
		code, _ := out["error"].(string)
		return code, out
	}
	if code, out := poll(); code != "authorization_pending" {
		t.Fatalf("first poll on A: %s %v", code, out)
	}

	// The phone scans the TV's QR and confirms, on B.
	qr := complete[strings.LastIndex(complete, "/")+1:]
	for _, step := range []string{"scan", "confirm"} {
		req, _ := http.NewRequest("POST", urlB+"/v1/qr/"+qr+"/"+step, nil)
		req.Header.Set("Authorization", "Bearer "+idToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s on B: %d %s", step, resp.StatusCode, body)
		}
	}

	// The TV polls A as RFC 8628 says: once per interval, until tokens.
	var tok map[string]any
	deadline = time.Now().Add(30 * time.Second)
	for tok == nil {
		wait := time.NewTimer(time.Duration(interval) * time.Second)
		<-wait.C
		switch code, out := poll(); code {
		case "":
			tok = out
		case "authorization_pending":
			if time.Now().After(deadline) {
				t.Fatal("A still answers authorization_pending after the confirmation on B")
			}
		default:
			t.Fatalf("poll on A after the confirmation on B: %s %v", code, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	raw, _ := tok["id_token"].(string)
	keys := oidc.NewRemoteKeySet(ctx, urlA+"/.well-known/jwks.json")
	idt, err := oidc.NewVerifier(issuer, keys, &oidc.Config{ClientID: "tv", SupportedSigningAlgs: []string{"EdDSA", "ES256"}}).Verify(ctx, raw)
	if err != nil || idt.Subject != acc["id"] {
		t.Fatalf("id_token from A: %v %+v (account %v)", err, idt, acc["id"])
	}
	if at, _ := tok["access_token"].(string); at == "" {
		t.Fatalf("no access token: %v", tok)
	}
	wait := time.NewTimer(time.Duration(interval) * time.Second)
	<-wait.C
	if code, _ := poll(); code != "expired_token" {
		t.Fatalf("the spent device code on A: %s", code)
	}
}
