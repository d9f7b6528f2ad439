package devstack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Introspection (RFC 7662) of a web app's refresh tokens, and client
// authentication at introspection with client_secret_post as well as
// Basic: a live refresh token answers active with its client, account,
// scope and expiry, to its own client only; once rotated, reused (its
// family revoked), revoked, or its code used twice, it answers inactive.
// Discovery advertises exactly the methods that work.
func TestSSOIntrospectRefreshTokens(t *testing.T) {
	t.Parallel()
	st, _ := startStack(t, "")
	r := newSSORP(t, st.URL)
	wiki := r.register(t, "wiki", "wiki-secret-0123456789abcdef", "profile", "offline_access")
	other := r.register(t, "bi", "bi-secret-0123456789abcdefgh", "profile", "offline_access")
	idToken, accountID := miniProgramUser(t, st, "Ada")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	flow := func() (flowOut, *oauth2.Token) {
		t.Helper()
		f, err := r.signIn(ctx, wiki, idToken)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := exchange(ctx, wiki, f)
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("exchange: %v %v", tok, err)
		}
		return f, tok
	}
	basic := func(conf *oauth2.Config, tok string) map[string]any {
		t.Helper()
		out, err := introspect(ctx, st.URL, conf, tok)
		if err != nil {
			t.Fatalf("introspect (Basic): %v", err)
		}
		return out
	}
	post := func(conf *oauth2.Config, tok string) map[string]any {
		t.Helper()
		status, out := introspectForm(t, ctx, st.URL, url.Values{"token": {tok}, "client_id": {conf.ClientID}, "client_secret": {conf.ClientSecret}}, nil)
		if status != http.StatusOK {
			t.Fatalf("introspect (client_secret_post): %d %v", status, out)
		}
		return out
	}

	_, tok := flow()
	for name, got := range map[string]map[string]any{"Basic": basic(wiki, tok.RefreshToken), "client_secret_post": post(wiki, tok.RefreshToken)} {
		exp, _ := got["exp"].(float64)
		if got["active"] != true || got["client_id"] != "wiki" || got["sub"] != accountID || got["iss"] != st.URL ||
			!strings.Contains(got["scope"].(string), "offline_access") || time.Unix(int64(exp), 0).Before(time.Now().Add(29*24*time.Hour)) {
			t.Fatalf("a live refresh token, %s: %v", name, got)
		}
		if _, ok := got["jti"]; ok {
			t.Fatalf("a refresh token introspects with an access token's jti: %v", got)
		}
	}
	if got := post(wiki, tok.AccessToken); got["active"] != true || got["client_id"] != "wiki" {
		t.Fatalf("an access token with client_secret_post: %v", got)
	}
	if got := basic(other, tok.RefreshToken); got["active"] != false {
		t.Fatalf("another client sees the refresh token: %v", got)
	}

	// Client authentication: a wrong secret in the body, and two methods
	// at once, are invalid_client (401); no secret at all too.
	for name, form := range map[string]url.Values{
		"wrong secret": {"token": {tok.RefreshToken}, "client_id": {"wiki"}, "client_secret": {"wrong-secret-0123456789abcdef"}},
		"no secret":    {"token": {tok.RefreshToken}, "client_id": {"wiki"}},
	} {
		if status, out := introspectForm(t, ctx, st.URL, form, nil); status != http.StatusUnauthorized || out["active"] == true {
			t.Fatalf("%s: %d %v", name, status, out)
		}
	}
	both := url.Values{"token": {tok.RefreshToken}, "client_id": {"wiki"}, "client_secret": {wiki.ClientSecret}}
	if status, out := introspectForm(t, ctx, st.URL, both, wiki); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Fatalf("Basic and client_secret_post at once: %d %v", status, out)
	}

	// Rotation: the old token is inactive, the new one active; reusing
	// the old one revokes the family, and the new one with it.
	next, err := refreshed(ctx, wiki, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if basic(wiki, tok.RefreshToken)["active"] != false || basic(wiki, next.RefreshToken)["active"] != true {
		t.Fatal("after a rotation: the rotated token active, or the new one not")
	}
	if basic(wiki, tok.RefreshToken)["active"] != false || basic(wiki, next.RefreshToken)["active"] != true {
		t.Fatal("introspecting a rotated token counted as its reuse")
	}
	if _, err := refreshed(ctx, wiki, tok.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("reuse: %v", err)
	}
	if basic(wiki, next.RefreshToken)["active"] != false {
		t.Fatal("a reuse-revoked family's newest refresh token introspects active")
	}

	// Revocation (RFC 7009), then introspection: inactive at once.
	_, tok = flow()
	if _, err := revoke(ctx, st.URL, wiki, tok.RefreshToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if basic(wiki, tok.RefreshToken)["active"] != false {
		t.Fatal("a revoked refresh token introspects active")
	}

	// A second use of the code revokes the family the first use started.
	f, tok := flow()
	if _, err := exchange(ctx, wiki, f); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("second use of a code: %v", err)
	}
	if basic(wiki, tok.RefreshToken)["active"] != false {
		t.Fatal("the first use's refresh token introspects active after a second use")
	}

	// A disabled account's refresh token counts no more.
	_, tok = flow()
	adminJSON(t, "POST", st.URL+"/v1/accounts/"+accountID+"/disable", nil)
	if basic(wiki, tok.RefreshToken)["active"] != false {
		t.Fatal("a disabled account's refresh token introspects active")
	}

	// Discovery names what works, and nothing that does not.
	var d struct {
		Introspection []string `json:"introspection_endpoint_auth_methods_supported"`
		Revocation    []string `json:"revocation_endpoint_auth_methods_supported"`
	}
	getJSON(t, st.URL+"/.well-known/openid-configuration", "", &d)
	slices.Sort(d.Introspection)
	slices.Sort(d.Revocation)
	if !slices.Equal(d.Introspection, []string{"client_secret_basic", "client_secret_post"}) ||
		!slices.Equal(d.Revocation, []string{"client_secret_basic", "client_secret_post", "none"}) {
		t.Fatalf("discovery: introspection %v, revocation %v", d.Introspection, d.Revocation)
	}
}

// introspectForm posts form to the introspection endpoint, with basic's
// credentials in an Authorization header when given; the status and JSON.
func introspectForm(t *testing.T, ctx context.Context, issuer string, form url.Values, basic *oauth2.Config) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", issuer+"/oauth2/introspect", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic.ClientID), url.QueryEscape(basic.ClientSecret))
	}
	resp, err := loopbackClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}
