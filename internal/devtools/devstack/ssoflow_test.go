package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/bindery/bindery/internal/devtools/demo"
)

// The authorization code flow without a browser, as a load generator or a
// test drives it: an HTTP client with a cookie jar plays the browser (it
// follows Bindery's redirects and stops at the web app's redirect URI),
// the mini-program user scans and confirms over the API.

// ssoRP is a web app of the flows: go-oidc discovers Bindery, x/oauth2 runs
// the code flow with PKCE S256.
type ssoRP struct {
	provider *oidc.Provider
	issuer   string
	redirect string
}

// callbackURL is registered, never served: the flow stops before it.
const callbackURL = "http://127.0.0.1:9/callback"

func newSSORP(t testing.TB, issuer string) *ssoRP {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	return &ssoRP{provider: p, issuer: issuer, redirect: callbackURL}
}

// register registers a client of the demo app and answers its config.
func (r *ssoRP) register(t testing.TB, id, secret string, scopes ...string) *oauth2.Config {
	t.Helper()
	body := map[string]any{"name": "Web app " + id, "app": demo.App, "type": "public", "redirect_uris": []string{r.redirect}}
	style := oauth2.AuthStyleInParams
	if secret != "" {
		body["type"], body["secret"], style = "confidential", secret, oauth2.AuthStyleInHeader
	}
	adminJSON(t, "PUT", r.issuer+"/v1/oidc/clients/"+id, body)
	ep := r.provider.Endpoint()
	ep.AuthStyle = style
	return &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: ep, RedirectURL: r.redirect,
		Scopes: append([]string{oidc.ScopeOpenID}, scopes...)}
}

// adminJSON calls the admin API (dev token) and fails on an error status.
func adminJSON(t testing.TB, method, u string, body any) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(mustJSON(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer dev")
	return doJSON(t, req)
}

func mustJSON(v any) string {
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func doJSON(t testing.TB, req *http.Request) map[string]any {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, resp.StatusCode, data)
	}
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return out
}

// loopback is the flows' HTTP transport: it keeps a connection alive per
// concurrent client (net/http's default keeps two per host), as a load
// generator does, so that a benchmark of 100 clients measures Bindery,
// not TCP handshakes.
var loopback = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 512, 512
	return t
}()

// loopbackClient is an HTTP client on loopback.
var loopbackClient = &http.Client{Transport: loopback}

// withLoopback makes x/oauth2 use loopbackClient.
func withLoopback(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, loopbackClient)
}

var qrIDAttr = regexp.MustCompile(`data-qr-id="([^"]+)"`)

// flowOut is one signed-in flow: the code at the redirect URI, its PKCE
// verifier and nonce, and what the browser held.
type flowOut struct {
	Code, Verifier, Nonce string
	Cookies               []string
}

// signIn runs authorize → hosted login page → QR scan + confirm by the
// mini-program user (idToken) → the code at the redirect URI.
func (r *ssoRP) signIn(ctx context.Context, conf *oauth2.Config, idToken string) (flowOut, error) {
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Transport: loopback, Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), r.redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	out := flowOut{Verifier: oauth2.GenerateVerifier(), Nonce: random()}
	state := random()
	page, err := get(ctx, browser, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(out.Verifier), oidc.Nonce(out.Nonce)))
	if err != nil {
		return out, err
	}
	m := qrIDAttr.FindStringSubmatch(page.body)
	authID := page.url.Query().Get("id")
	if m == nil || authID == "" {
		return out, fmt.Errorf("no login page at %s: %d %.200s", page.url, page.status, page.body)
	}
	for _, step := range []string{"scan", "confirm"} {
		if err := bearerPost(ctx, r.issuer+"/v1/qr/"+m[1]+"/"+step, idToken); err != nil {
			return out, err
		}
	}
	done, err := get(ctx, browser, r.issuer+"/oidc/login/continue?id="+url.QueryEscape(authID)+"&qr="+url.QueryEscape(m[1]))
	if err != nil {
		return out, err
	}
	loc, _ := url.Parse(done.location)
	if loc == nil || loc.Query().Get("state") != state || loc.Query().Get("code") == "" {
		return out, fmt.Errorf("continue answered %d to %q", done.status, done.location)
	}
	out.Code = loc.Query().Get("code")
	for _, u := range []string{r.issuer + "/oidc/login", r.issuer + "/"} {
		pu, _ := url.Parse(u)
		for _, c := range jar.Cookies(pu) {
			out.Cookies = append(out.Cookies, c.Value)
		}
	}
	return out, nil
}

type fetched struct {
	url            *url.URL
	status         int
	body, location string
}

func get(ctx context.Context, c *http.Client, u string) (fetched, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := c.Do(req)
	if err != nil {
		return fetched{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fetched{url: resp.Request.URL, status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location")}, nil
}

func bearerPost(ctx context.Context, u, bearer string) error {
	req, _ := http.NewRequestWithContext(ctx, "POST", u, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := loopbackClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s: %d %s", u, resp.StatusCode, b)
	}
	return nil
}

// exchange swaps the flow's code for tokens.
func exchange(ctx context.Context, conf *oauth2.Config, f flowOut) (*oauth2.Token, error) {
	return conf.Exchange(withLoopback(ctx), f.Code, oauth2.VerifierOption(f.Verifier))
}

// refreshed answers the tokens a refresh token gets, through x/oauth2's
// TokenSource (the way a web app refreshes).
func refreshed(ctx context.Context, conf *oauth2.Config, refreshToken string) (*oauth2.Token, error) {
	return conf.TokenSource(withLoopback(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// introspect asks the introspection endpoint (RFC 7662) as a confidential
// client.
func introspect(ctx context.Context, issuer string, conf *oauth2.Config, token string) (map[string]any, error) {
	return formPost(ctx, issuer+"/oauth2/introspect", conf, url.Values{"token": {token}})
}

// revoke asks the revocation endpoint (RFC 7009).
func revoke(ctx context.Context, issuer string, conf *oauth2.Config, token, hint string) (map[string]any, error) {
	v := url.Values{"token": {token}}
	if hint != "" {
		v.Set("token_type_hint", hint)
	}
	return formPost(ctx, issuer+"/oauth2/revoke", conf, v)
}

// oauthError is an OAuth error answer of formPost.
type oauthError struct {
	Status int
	Code   string
}

func (e *oauthError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Code) }

func formPost(ctx context.Context, u string, conf *oauth2.Config, v url.Values) (map[string]any, error) {
	if conf.ClientSecret == "" {
		v.Set("client_id", conf.ClientID)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if conf.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(conf.ClientID), url.QueryEscape(conf.ClientSecret))
	}
	resp, err := loopbackClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	if resp.StatusCode != http.StatusOK {
		code, _ := out["error"].(string)
		return out, &oauthError{Status: resp.StatusCode, Code: code}
	}
	return out, nil
}

// userinfoOf asks userinfo with an access token; an error when refused.
func (r *ssoRP) userinfoOf(ctx context.Context, accessToken string) (*oidc.UserInfo, error) {
	return r.provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken, TokenType: "Bearer"}))
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	var oe *oauthError
	switch {
	case errors.As(err, &re):
		return re.ErrorCode == code
	case errors.As(err, &oe):
		return oe.Code == code
	}
	return false
}
