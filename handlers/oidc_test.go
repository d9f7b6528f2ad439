package handlers_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// The one discovery document names every endpoint of the OpenID Provider
// (and the session API's token and userinfo endpoints, which it shares),
// response type code only, the Signer's algorithm (EdDSA by default), PKCE
// S256. (It was tokens.Discovery's test: jwks_uri, token_endpoint,
// userinfo_endpoint and the algorithm stay.)
func TestDiscoveryNamesEveryEndpoint(t *testing.T) {
	env := testenv.Start(t, "", nil)
	r := env.Do("GET", "/.well-known/openid-configuration", nil)
	d := r.Map(t)
	if r.Status != 200 || d["issuer"] != env.URL {
		t.Fatalf("discovery: %d %s", r.Status, r.Body)
	}
	for name, path := range map[string]string{
		"jwks_uri": "/.well-known/jwks.json", "token_endpoint": "/oauth2/token", "userinfo_endpoint": "/v1/userinfo",
		"authorization_endpoint": "/oauth2/authorize", "end_session_endpoint": "/oauth2/end_session",
		"revocation_endpoint": "/oauth2/revoke", "introspection_endpoint": "/oauth2/introspect",
		"device_authorization_endpoint": "/oauth2/device_authorization",
	} {
		if d[name] != env.URL+path {
			t.Errorf("%s = %v, want %s", name, d[name], env.URL+path)
		}
	}
	list := func(name string) []string {
		var out []string
		for _, v := range d[name].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	if got := list("id_token_signing_alg_values_supported"); !slices.Equal(got, []string{env.App.Signer.Algorithm()}) || got[0] != "EdDSA" {
		t.Errorf("algs = %v", got)
	}
	if got := list("response_types_supported"); !slices.Equal(got, []string{"code"}) {
		t.Errorf("response types = %v", got)
	}
	if got := list("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
		t.Errorf("PKCE methods = %v", got)
	}
	if got := strings.Join(list("claims_supported"), " "); !strings.Contains(got, "roles") || !strings.Contains(got, "sid") {
		t.Errorf("claims = %v", got)
	}
	// No client authenticates by a signed JWT (private_key_jwt), so no
	// endpoint names algorithms for one.
	for _, name := range []string{"token_endpoint_auth_signing_alg_values_supported", "revocation_endpoint_auth_signing_alg_values_supported", "introspection_endpoint_auth_signing_alg_values_supported"} {
		if v, ok := d[name]; ok {
			t.Errorf("%s = %v, but no endpoint takes a signed client assertion", name, v)
		}
	}
	// The keys the provider signs with are the ones JWKS publishes.
	j := env.Do("GET", "/.well-known/jwks.json", nil)
	if !strings.Contains(string(j.Body), env.App.Signer.ActiveKeyID()) {
		t.Fatalf("jwks: %s", j.Body)
	}
}
