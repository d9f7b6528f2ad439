package handlers_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

const sessionApp = "demo"

// sessionAccount creates an account over the admin API and waits until the
// account view holds it.
func sessionAccount(t *testing.T, env *testenv.Env, username string) string {
	t.Helper()
	r := env.Admin("POST", "/v1/accounts", map[string]any{
		"username": username, "display_name": "User " + username, "email": username + "@example.com",
		"phone": "+86138" + strconv.Itoa(10000000+len(username)*1111),
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create account: %d %s", r.Status, r.Body)
	}
	id := r.Map(t)["id"].(string)
	if g := env.Admin("GET", "/v1/accounts/"+id+"?min_position="+r.Header.Get("X-Bindery-Position"), nil); g.Status != 200 {
		t.Fatalf("read account: %d %s", g.Status, g.Body)
	}
	return id
}

// startSession does what a login does: Sessions.Start, then one Append.
func startSession(t *testing.T, env *testenv.Env, accountID string, now time.Time) sessions.Issued {
	t.Helper()
	acc, ok := env.App.Accounts.Get(accountID)
	if !ok {
		t.Fatalf("account %s not in the view", accountID)
	}
	chg, iss, err := env.App.Sessions.Start(sessions.ClaimsFor(acc), sessionApp, []string{"wx"}, now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := env.App.Store.Append(ctx, events.Meta{Actor: accountID, Time: now}, chg); err != nil {
		t.Fatal(err)
	}
	return iss
}

func familyOf(t *testing.T, sessionToken string) string {
	t.Helper()
	fam, _, ok := strings.Cut(sessionToken, ".")
	if !ok {
		t.Fatalf("session token %q has no family", sessionToken)
	}
	return fam
}

func refresh(env *testenv.Env, tok string) testenv.Response {
	env.T.Helper()
	return env.Do("POST", "/v1/sessions/refresh", map[string]string{"session_token": tok})
}

func wantProblem(t *testing.T, r testenv.Response, status int, code string) {
	t.Helper()
	if r.Status != status || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("want %d %s, got %d %s %s", status, code, r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	if got := r.Map(t)["code"]; got != code {
		t.Fatalf("want code %s, got %v (%s)", code, got, r.Body)
	}
}

// sessionEvents lists the event names of a family, in order.
func sessionEvents(t *testing.T, env *testenv.Env, fam string) []events.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := env.App.Store.Load(ctx, events.Aggregate{Type: "session", ID: fam}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func eventNames(recs []events.Record) string {
	var names []string
	for _, r := range recs {
		names = append(names, r.Event.EventName())
	}
	return strings.Join(names, ",")
}

func TestSessionRefreshRotates(t *testing.T) {
	env := testenv.Start(t, "", nil)
	acc := sessionAccount(t, env, "rotator")
	iss := startSession(t, env, acc, time.Now())
	fam := familyOf(t, iss.SessionToken)
	if iss.TokenType != "Bearer" || iss.ExpiresIn != 900 || iss.AccountID != acc || len(iss.SessionToken) != 80 {
		t.Fatalf("issued %+v", iss)
	}

	r := refresh(env, iss.SessionToken)
	if r.Status != 200 {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("X-Bindery-Position") == "" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", r.Header)
	}
	var out sessions.Issued
	r.JSON(t, &out)
	if out.SessionToken == iss.SessionToken || familyOf(t, out.SessionToken) != fam || out.AccountID != acc ||
		out.ExpiresIn != 900 || out.TokenType != "Bearer" {
		t.Fatalf("refreshed %+v", out)
	}
	claims, err := env.App.Signer.Verify(out.IDToken, sessionApp, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]any{
		"sub": acc, "aud": sessionApp, "sid": fam, "iss": env.URL, "name": "User rotator",
		"preferred_username": "rotator", "email": "rotator@example.com",
	} {
		if claims[name] != want {
			t.Errorf("claim %s = %v, want %v", name, claims[name], want)
		}
	}
	if amr, _ := claims["amr"].([]any); len(amr) != 1 || amr[0] != "wx" {
		t.Errorf("amr = %v", claims["amr"])
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 900 {
		t.Errorf("exp - iat = %v", exp-iat)
	}
	// The new token refreshes again; the chain is in the auth log.
	r2 := refresh(env, out.SessionToken)
	if r2.Status != 200 {
		t.Fatalf("second refresh: %d %s", r2.Status, r2.Body)
	}
	if got := eventNames(sessionEvents(t, env, fam)); got != "session_issued,session_refreshed,session_refreshed" {
		t.Fatalf("events %s", got)
	}
}

func TestSessionReuseRevokesFamily(t *testing.T) {
	env := testenv.Start(t, "", nil)
	acc := sessionAccount(t, env, "reused")
	iss := startSession(t, env, acc, time.Now())
	fam := familyOf(t, iss.SessionToken)
	r := refresh(env, iss.SessionToken)
	if r.Status != 200 {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	newest := r.Map(t)["session_token"].(string)

	// The rotated token comes back (a thief, or a client bug): the whole
	// family is revoked.
	wantProblem(t, refresh(env, iss.SessionToken), http.StatusUnauthorized, "session_reused")
	wantProblem(t, refresh(env, newest), http.StatusUnauthorized, "invalid_session")
	recs := sessionEvents(t, env, fam)
	if got := eventNames(recs); got != "session_issued,session_refreshed,session_reuse_detected,session_revoked" {
		t.Fatalf("events %s", got)
	}
	if rev := recs[3].Event.(events.SessionRevoked); rev.Reason != events.RevokeReuseDetected || rev.AccountID != acc {
		t.Fatalf("revoked %+v", rev)
	}
	if det := recs[2].Event.(events.SessionReuseDetected); det.TokenHash != tokens.HashToken(iss.SessionToken) {
		t.Fatalf("reuse detected %+v", det)
	}
	if recs[2].Envelope.Actor != acc {
		t.Fatalf("actor %q", recs[2].Envelope.Actor)
	}
	// Presenting it once more after the revocation records nothing new.
	wantProblem(t, refresh(env, iss.SessionToken), http.StatusUnauthorized, "invalid_session")
	if n := len(sessionEvents(t, env, fam)); n != 4 {
		t.Fatalf("%d events after the revocation", n)
	}
}

func TestSessionRevoke(t *testing.T) {
	env := testenv.Start(t, "", nil)
	acc := sessionAccount(t, env, "leaver")
	iss := startSession(t, env, acc, time.Now())
	revoke := func(tok string) testenv.Response {
		return env.Do("POST", "/v1/sessions/revoke", map[string]string{"session_token": tok})
	}
	r := revoke(iss.SessionToken)
	if r.Status != http.StatusNoContent || r.Header.Get("X-Bindery-Position") == "" || len(r.Body) != 0 {
		t.Fatalf("revoke: %d %v %s", r.Status, r.Header, r.Body)
	}
	wantProblem(t, refresh(env, iss.SessionToken), http.StatusUnauthorized, "invalid_session")
	// Logging out twice is fine; an unknown token is not.
	if r := revoke(iss.SessionToken); r.Status != http.StatusNoContent {
		t.Fatalf("second revoke: %d %s", r.Status, r.Body)
	}
	wantProblem(t, revoke(uuid.NewString()+"."+base64.RawURLEncoding.EncodeToString(make([]byte, 32))), http.StatusUnauthorized, "invalid_session")
	wantProblem(t, revoke("nonsense"), http.StatusUnauthorized, "invalid_session")
	if got := eventNames(sessionEvents(t, env, familyOf(t, iss.SessionToken))); got != "session_issued,session_revoked" {
		t.Fatalf("events %s", got)
	}

	// Revoking with a rotated token is reuse.
	iss2 := startSession(t, env, acc, time.Now())
	if r := refresh(env, iss2.SessionToken); r.Status != 200 {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	wantProblem(t, revoke(iss2.SessionToken), http.StatusUnauthorized, "session_reused")
}

func TestSessionExpiredAndDisabled(t *testing.T) {
	env := testenv.Start(t, "", nil)
	acc := sessionAccount(t, env, "sleeper")
	// A session started 31 days ago: its token lived 30.
	old := startSession(t, env, acc, time.Now().Add(-31*24*time.Hour))
	wantProblem(t, refresh(env, old.SessionToken), http.StatusUnauthorized, "invalid_session")
	// Its id_token expired long ago too.
	wantProblem(t, env.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+old.IDToken), http.StatusUnauthorized, "invalid_token")

	// A disabled account's session is refused and revoked.
	iss := startSession(t, env, acc, time.Now())
	d := env.Admin("DELETE", "/v1/accounts/"+acc, nil)
	if d.Status != 200 {
		t.Fatalf("disable: %d %s", d.Status, d.Body)
	}
	env.Admin("GET", "/v1/accounts/"+acc+"?min_position="+d.Header.Get("X-Bindery-Position"), nil)
	wantProblem(t, refresh(env, iss.SessionToken), http.StatusForbidden, "account_disabled")
	wantProblem(t, refresh(env, iss.SessionToken), http.StatusUnauthorized, "invalid_session")
	recs := sessionEvents(t, env, familyOf(t, iss.SessionToken))
	if rev, ok := recs[len(recs)-1].Event.(events.SessionRevoked); !ok || rev.Reason != events.RevokeAccountDisabled {
		t.Fatalf("events %s", eventNames(recs))
	}
	// Its id_token still verifies (stateless) but userinfo refuses the account.
	wantProblem(t, env.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+iss.IDToken), http.StatusForbidden, "account_disabled")
}

func TestUserinfo(t *testing.T) {
	env := testenv.Start(t, "", nil)
	acc := sessionAccount(t, env, "profiled")
	iss := startSession(t, env, acc, time.Now())
	r := env.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+iss.IDToken)
	if r.Status != 200 {
		t.Fatalf("userinfo: %d %s", r.Status, r.Body)
	}
	m := r.Map(t)
	if m["sub"] != acc || m["name"] != "User profiled" || m["preferred_username"] != "profiled" || m["email"] != "profiled@example.com" || m["phone_number"] == nil {
		t.Fatalf("userinfo %v", m)
	}
	for _, tc := range []struct {
		name, auth, code string
	}{
		{"no token", "", "unauthorized"},
		{"not bearer", "Basic " + iss.IDToken, "unauthorized"},
		{"garbage", "Bearer not.a.jwt", "invalid_token"},
		{"session token", "Bearer " + iss.SessionToken, "invalid_token"},
		{"tampered", "Bearer " + iss.IDToken[:len(iss.IDToken)-4] + "AAAA", "invalid_token"},
		{"alg none", "Bearer " + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"`+acc+`","aud":"demo","sid":"x","exp":9999999999,"iss":"`+env.URL+`"}`)) + ".", "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.auth != "" {
				h = []string{"Authorization", tc.auth}
			}
			r := env.Do("GET", "/v1/userinfo", nil, h...)
			wantProblem(t, r, http.StatusUnauthorized, tc.code)
			challenge := r.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, "Bearer") || (tc.code == "invalid_token") != strings.Contains(challenge, `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate %q", challenge)
			}
		})
	}
	// A token signed by a key another replica rotated in is accepted once
	// this replica reloads the shared key set.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ks, err := tokens.NewKVKeyStore(ctx, env.App.Store.JetStream(), 1)
	if err != nil {
		t.Fatal(err)
	}
	other, err := tokens.NewSigner(ctx, ks, env.App.Box, tokens.SignerOptions{Issuer: env.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// (Its sid is a live session's: a token of no session opens nothing.)
	tok, err := other.Sign(map[string]any{"sub": acc, "aud": "other-app", "sid": familyOf(t, iss.SessionToken), "iat": now, "exp": now.Add(time.Minute), "auth_time": now})
	if err != nil {
		t.Fatal(err)
	}
	if r := env.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+tok); r.Status != 200 {
		t.Fatalf("userinfo with a rotated-in key: %d %s", r.Status, r.Body)
	}
}

// Standard clients: go-oidc verifies id_tokens through discovery, and
// x/oauth2 refreshes through /oauth2/token.
func TestOIDCAndOAuth2Clients(t *testing.T) {
	env := testenv.Start(t, "", nil)
	acc := sessionAccount(t, env, "standard")
	iss := startSession(t, env, acc, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ctx = oidc.ClientContext(ctx, env.Client)

	d := env.Do("GET", "/.well-known/openid-configuration", nil)
	if d.Status != 200 || d.Map(t)["issuer"] != env.URL || d.Map(t)["token_endpoint"] != env.URL+"/oauth2/token" {
		t.Fatalf("discovery: %d %s", d.Status, d.Body)
	}
	j := env.Do("GET", "/.well-known/jwks.json", nil)
	if j.Status != 200 || !strings.Contains(string(j.Body), env.App.Signer.ActiveKeyID()) || strings.Contains(string(j.Body), `"d"`) {
		t.Fatalf("jwks: %d %s", j.Status, j.Body)
	}

	provider, err := oidc.NewProvider(ctx, env.URL)
	if err != nil {
		t.Fatal(err)
	}
	verifier := provider.VerifierContext(ctx, &oidc.Config{ClientID: sessionApp})
	idt, err := verifier.Verify(ctx, iss.IDToken)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		SID  string `json:"sid"`
		Name string `json:"name"`
	}
	if err := idt.Claims(&claims); err != nil || idt.Subject != acc || claims.SID != familyOf(t, iss.SessionToken) || claims.Name != "User standard" {
		t.Fatalf("claims %+v %s %v", claims, idt.Subject, err)
	}
	if _, err := provider.VerifierContext(ctx, &oidc.Config{ClientID: "another-app"}).Verify(ctx, iss.IDToken); err == nil {
		t.Fatal("verified for the wrong audience")
	}

	// x/oauth2 refreshes an expired access token with the refresh grant.
	conf := &oauth2.Config{ClientID: sessionApp, Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID}}
	octx := context.WithValue(ctx, oauth2.HTTPClient, env.Client)
	ts := conf.TokenSource(octx, &oauth2.Token{AccessToken: iss.IDToken, RefreshToken: iss.SessionToken, Expiry: time.Now().Add(-time.Minute)})
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" || tok.AccessToken != raw || tok.RefreshToken == iss.SessionToken || tok.TokenType != "Bearer" || time.Until(tok.Expiry) < 10*time.Minute {
		t.Fatalf("token %+v", tok)
	}
	if idt, err := verifier.Verify(ctx, raw); err != nil || idt.Subject != acc {
		t.Fatalf("refreshed id_token: %v", err)
	}
	// userinfo through go-oidc, with the refreshed token.
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != acc || ui.Email != "standard@example.com" {
		t.Fatalf("userinfo %+v %v", ui, err)
	}
	// The rotated refresh token is reuse now.
	post := func(form url.Values, h ...string) testenv.Response {
		return env.Do("POST", "/oauth2/token", form.Encode(), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, h...)...)
	}
	r := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {iss.SessionToken}})
	if r.Status != 400 || r.Map(t)["error"] != "invalid_grant" || !strings.Contains(r.Map(t)["error_description"].(string), "already used") {
		t.Fatalf("reuse via oauth2: %d %s", r.Status, r.Body)
	}
}

func TestOAuth2TokenErrors(t *testing.T) {
	env := testenv.Start(t, "", nil)
	acc := sessionAccount(t, env, "oauthbad")
	iss := startSession(t, env, acc, time.Now())
	form := "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name, body, ctype, code string
		headers                 []string
	}{
		{"json body", `{"grant_type":"refresh_token"}`, "application/json", "invalid_request", nil},
		{"no content type", "grant_type=refresh_token", "", "invalid_request", nil},
		{"no grant type", "refresh_token=x", form, "invalid_request", nil},
		{"password grant", "grant_type=password&username=a&password=b", form, "unsupported_grant_type", nil},
		{"code grant", "grant_type=authorization_code&code=x", form, "unsupported_grant_type", nil},
		{"no refresh token", "grant_type=refresh_token", form, "invalid_request", nil},
		{"repeated", "grant_type=refresh_token&refresh_token=a&refresh_token=b", form, "invalid_request", nil},
		{"garbled token", "grant_type=refresh_token&refresh_token=%00%ff", form, "invalid_grant", nil},
		{"bad escape", "grant_type=refresh_token&refresh_token=%zz", form, "invalid_request", nil},
		{"other client", "grant_type=refresh_token&client_id=other&refresh_token=" + url.QueryEscape(iss.SessionToken), form, "invalid_grant", nil},
		{"clients differ", "grant_type=refresh_token&client_id=demo&refresh_token=" + url.QueryEscape(iss.SessionToken), form, "invalid_request",
			[]string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("other:"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.ctype != "" {
				h = append(h, "Content-Type", tc.ctype)
			}
			r := env.Do("POST", "/oauth2/token", tc.body, append(h, tc.headers...)...)
			if r.Status != 400 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v %s", r.Status, r.Header, r.Body)
			}
			m := r.Map(t)
			if m["error"] != tc.code || m["error_description"] == "" {
				t.Fatalf("body %s", r.Body)
			}
		})
	}
	// None of those rotated the token: the right client refreshes with it,
	// identified by HTTP Basic.
	r := env.Do("POST", "/oauth2/token", "grant_type=refresh_token&refresh_token="+url.QueryEscape(iss.SessionToken),
		"Content-Type", form, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("demo:")))
	if r.Status != 200 || r.Map(t)["refresh_token"] == nil {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
}

func TestSessionBadInputs(t *testing.T) {
	env := testenv.Start(t, "", nil)
	validLooking := uuid.NewString() + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	for _, path := range []string{"/v1/sessions/refresh", "/v1/sessions/revoke"} {
		for _, tc := range []struct {
			name   string
			body   any
			ctype  string
			status int
			code   string
		}{
			{"empty body", "", "application/json", 400, "validation_failed"},
			{"not json", "session_token=x", "application/json", 400, "validation_failed"},
			{"array", `[]`, "application/json", 400, "validation_failed"},
			{"wrong type", `{"session_token": 5}`, "application/json", 400, "validation_failed"},
			{"unknown field", `{"session_token": "a", "extra": 1}`, "application/json", 400, "validation_failed"},
			{"two values", `{"session_token": "a"}{}`, "application/json", 400, "validation_failed"},
			{"missing", `{}`, "application/json", 400, "validation_failed"},
			{"text", `{"session_token": "a"}`, "text/plain", 415, "unsupported_media_type"},
			{"garbled", `{"session_token": "a.b"}`, "application/json", 401, "invalid_session"},
			{"bad family", `{"session_token": "../../x.` + strings.Repeat("A", 43) + `"}`, "application/json", 401, "invalid_session"},
			{"upper-case family", `{"session_token": "` + strings.ToUpper(validLooking[:36]) + validLooking[36:] + `"}`, "application/json", 401, "invalid_session"},
			{"unknown family", `{"session_token": "` + validLooking + `"}`, "application/json", 401, "invalid_session"},
			{"huge", `{"session_token": "` + strings.Repeat("x", 2<<20) + `"}`, "application/json", 413, "body_too_large"},
		} {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				wantProblem(t, env.Do("POST", path, tc.body, "Content-Type", tc.ctype), tc.status, tc.code)
			})
		}
	}
	wantProblem(t, env.Do("GET", "/v1/sessions/refresh", nil), http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestPublicRateLimit(t *testing.T) {
	// 1 request/s with a burst of 2; the test's peer (127.0.0.1) is a
	// trusted proxy only in the second server.
	plain := testenv.Start(t, "", map[string]string{"BINDERY_RATE_LIMIT": "1"})
	behind := testenv.Start(t, "", map[string]string{"BINDERY_RATE_LIMIT": "1", "BINDERY_TRUSTED_PROXIES": "127.0.0.1/32, ::1/128"})
	body := map[string]string{"session_token": "x"}
	hit := func(env *testenv.Env, xff string) testenv.Response {
		var h []string
		if xff != "" {
			h = []string{"X-Forwarded-For", xff}
		}
		return env.Do("POST", "/v1/sessions/refresh", body, h...)
	}
	// X-Forwarded-For from an untrusted peer changes nothing.
	for _, xff := range []string{"198.51.100.1", "198.51.100.2"} {
		wantProblem(t, hit(plain, xff), http.StatusUnauthorized, "invalid_session")
	}
	r := hit(plain, "198.51.100.3")
	wantProblem(t, r, http.StatusTooManyRequests, "rate_limited")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Other limited routes share the bucket; discovery is not limited.
	wantProblem(t, plain.Do("GET", "/v1/userinfo", nil), http.StatusTooManyRequests, "rate_limited")
	wantProblem(t, plain.Do("POST", "/oauth2/token", "", "Content-Type", "application/x-www-form-urlencoded"), http.StatusTooManyRequests, "rate_limited")
	if r := plain.Do("GET", "/.well-known/openid-configuration", nil); r.Status != 200 {
		t.Fatalf("discovery limited: %d", r.Status)
	}

	// Behind a trusted proxy each forwarded client has its own bucket; the
	// rightmost untrusted hop counts, not what the client wrote before it.
	for range 2 {
		wantProblem(t, hit(behind, "203.0.113.9, 198.51.100.7"), http.StatusUnauthorized, "invalid_session")
	}
	wantProblem(t, hit(behind, "203.0.113.10, 198.51.100.7"), http.StatusTooManyRequests, "rate_limited")
	wantProblem(t, hit(behind, "198.51.100.8"), http.StatusUnauthorized, "invalid_session")
	wantProblem(t, hit(behind, "198.51.100.8, 127.0.0.1"), http.StatusUnauthorized, "invalid_session")
	wantProblem(t, hit(behind, "198.51.100.8"), http.StatusTooManyRequests, "rate_limited")

	// A bucket refills: one token a second.
	testenv.Eventually(t, 5*time.Second, func() bool { return hit(plain, "").Status == http.StatusUnauthorized })
}

// No raw session token or id_token is ever stored in an event or logged.
func TestNoTokenInEventsOrLogs(t *testing.T) {
	env := testenv.Start(t, "", nil)
	acc := sessionAccount(t, env, "secretive")
	var secrets []string
	iss := startSession(t, env, acc, time.Now())
	secrets = append(secrets, iss.SessionToken, iss.IDToken)
	r := refresh(env, iss.SessionToken)
	if r.Status != 200 {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	var out sessions.Issued
	r.JSON(t, &out)
	secrets = append(secrets, out.SessionToken, out.IDToken)
	env.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+out.IDToken)
	o := env.Do("POST", "/oauth2/token", "grant_type=refresh_token&client_id=demo&refresh_token="+url.QueryEscape(out.SessionToken),
		"Content-Type", "application/x-www-form-urlencoded")
	if o.Status != 200 {
		t.Fatalf("oauth2: %d %s", o.Status, o.Body)
	}
	secrets = append(secrets, o.Map(t)["refresh_token"].(string), o.Map(t)["id_token"].(string))
	refresh(env, iss.SessionToken) // reuse
	env.Do("POST", "/v1/sessions/revoke", map[string]string{"session_token": out.SessionToken})
	iss2 := startSession(t, env, acc, time.Now())
	secrets = append(secrets, iss2.SessionToken, iss2.IDToken)
	env.Do("POST", "/v1/sessions/revoke", map[string]string{"session_token": iss2.SessionToken})

	// The random part alone must not appear either.
	var needles []string
	for _, s := range secrets {
		needles = append(needles, s)
		if fam, secret, ok := strings.Cut(s, "."); ok && len(fam) == 36 {
			needles = append(needles, secret)
		} else {
			parts := strings.Split(s, ".")
			needles = append(needles, parts[2]) // the JWS signature
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := env.App.Store.JetStream()
	scanned := 0
	for _, name := range []string{bjs.HistoryStream, bjs.AuthLogStream} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err == jetstream.ErrMsgNotFound {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			scanned++
			for _, n := range needles {
				if strings.Contains(string(m.Data), n) {
					t.Fatalf("stream %s seq %d (%s) holds a token", name, seq, m.Subject)
				}
			}
		}
	}
	if scanned < 8 {
		t.Fatalf("scanned only %d messages", scanned)
	}
	logs := env.Logs.String()
	if !strings.Contains(logs, "/v1/sessions/refresh") {
		t.Fatal("the logs were not captured")
	}
	for _, n := range needles {
		if strings.Contains(logs, n) {
			t.Fatal("a token is in the logs")
		}
	}
}
