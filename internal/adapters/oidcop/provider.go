// Package oidcop runs Bindery's OpenID Provider on zitadel/oidc's op
// package: it configures the library (endpoints, PKCE, client
// authentication, JWT access tokens) and implements its storage on
// Bindery's use cases (internal/app/oidc) and views.
package oidcop

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	appoidc "github.com/bindery/bindery/internal/app/oidc"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/projections"
)

// Endpoint paths. Clients find them in discovery only; the token and
// userinfo endpoints are shared with the mini-program session API.
const (
	AuthorizePath     = "/oauth2/authorize"
	CallbackPath      = AuthorizePath + "/callback"
	TokenPath         = "/oauth2/token"
	UserinfoPath      = "/v1/userinfo"
	RevokePath        = "/oauth2/revoke"
	IntrospectPath    = "/oauth2/introspect"
	EndSessionPath    = "/oauth2/end_session"
	KeysPath          = "/.well-known/jwks.json"
	DeviceAuthPath    = "/oauth2/device_authorization"
	LoginPath         = "/oidc/login"
	DiscoveryPath     = "/.well-known/openid-configuration"
	requestIDHeader   = "X-Request-Id"
	defaultLogoutPath = "/"
)

// verifiedTokensMax bounds the access tokens whose verified signature is
// remembered (verified.go): a few MB at most.
const verifiedTokensMax = 20000

// Options are what the provider is built on.
type Options struct {
	Issuer     string
	Signer     *tokens.Signer
	Clients    *projections.OIDCClients
	ClientCmds *appoidc.Clients
	Auth       *appoidc.Authorizations
	Accounts   *projections.Accounts
	// Devices runs the device flow (nil: off).
	Devices *appoidc.Devices
}

// Provider is the OpenID Provider.
type Provider struct {
	op      *op.Provider
	storage *storage
	issuer  string
}

// New builds the provider.
func New(o Options) (*Provider, error) {
	issuer := strings.TrimSuffix(o.Issuer, "/")
	crypto := tokenCrypto{auth: o.Auth, signer: o.Signer, prepared: &sync.Map{}, verified: newVerifiedTokens(verifiedTokensMax)}
	st := &storage{
		clients: o.Clients, clientCmds: o.ClientCmds, auth: o.Auth, accounts: o.Accounts, signer: o.Signer, devices: o.Devices,
		crypto: crypto, issuer: issuer,
		loginURL: func(id string) string { return issuer + LoginPath + "?id=" + url.QueryEscape(id) },
	}
	cfg := &op.Config{
		CodeMethodS256:           true,
		GrantTypeRefreshToken:    true,
		AuthMethodPost:           true,
		DefaultLogoutRedirectURI: defaultLogoutPath,
	}
	opts := []op.Option{
		op.WithCrypto(crypto),
		// CORS is Bindery's (handlers/cors.go): only registered clients'
		// origins on the token, userinfo, revocation and introspection
		// endpoints; the library's default allows every origin.
		op.WithCORSOptions(nil),
		op.WithCustomAuthEndpoint(op.NewEndpoint(AuthorizePath)),
		op.WithCustomTokenEndpoint(op.NewEndpoint(TokenPath)),
		op.WithCustomUserinfoEndpoint(op.NewEndpoint(UserinfoPath)),
		op.WithCustomRevocationEndpoint(op.NewEndpoint(RevokePath)),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(IntrospectPath)),
		op.WithCustomEndSessionEndpoint(op.NewEndpoint(EndSessionPath)),
		op.WithCustomKeysEndpoint(op.NewEndpoint(KeysPath)),
		op.WithCustomDeviceAuthorizationEndpoint(op.NewEndpoint(DeviceAuthPath)),
		// The key set is the Signer's: EdDSA or ES256.
		op.WithAccessTokenVerifierOpts(op.WithSupportedAccessTokenSigningAlgorithms("EdDSA", "ES256")),
		op.WithIDTokenHintVerifierOpts(op.WithSupportedIDTokenHintSigningAlgorithms("EdDSA", "ES256")),
	}
	if strings.HasPrefix(issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	p, err := op.NewProvider(cfg, st, op.StaticIssuer(o.Issuer), opts...)
	if err != nil {
		return nil, err
	}
	return &Provider{op: p, storage: st, issuer: issuer}, nil
}

type ctxKey struct{}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Handler serves the library's endpoints (authorize and its callback,
// token, userinfo, revocation, introspection, end session, keys).
func (p *Provider) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), ctxKey{}, w.Header().Get(requestIDHeader))
		if r.URL.Path == DeviceAuthPath {
			p.deviceAuthorization(w, r.WithContext(ctx))
			return
		}
		switch r.URL.Path {
		case IntrospectPath:
			if r.ParseForm() == nil {
				ctx = withRawToken(ctx, r.PostForm.Get("token"))
				if !secretPostAsBasic(w, r) {
					return
				}
			}
		case UserinfoPath:
			if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
				ctx = withRawToken(ctx, tok)
			}
		}
		p.op.ServeHTTP(w, r.WithContext(withDeviceGrant(ctx)))
	})
}

// secretPostAsBasic lets the introspection endpoint take
// client_secret_post (RFC 6749 §2.3.1), which the library's introspection
// does not: credentials in the body become the Basic header it checks (and
// leave the form). Both at once is more than one method (§2.3): answered
// invalid_client here, and false.
func secretPostAsBasic(w http.ResponseWriter, r *http.Request) bool {
	secret := r.PostForm.Get("client_secret")
	if secret == "" {
		return true
	}
	if r.Header.Get("Authorization") != "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"use one client authentication method: Basic or client_secret in the body"}`))
		return false
	}
	r.SetBasicAuth(url.QueryEscape(r.PostForm.Get("client_id")), url.QueryEscape(secret))
	for _, f := range []url.Values{r.PostForm, r.Form} {
		f.Del("client_secret")
	}
	return true
}

// CallbackURL is where the login page sends the browser once the request
// is granted: the library answers it with the code.
func (p *Provider) CallbackURL(id string) string {
	return p.issuer + CallbackPath + "?id=" + url.QueryEscape(id)
}

// Deny sends the browser back to the client's redirect URI of request id
// with the OAuth error code (access_denied, login_required) and its state.
func (p *Provider) Deny(w http.ResponseWriter, r *http.Request, id, code string) {
	ar, err := p.storage.AuthRequestByID(r.Context(), id)
	if err != nil {
		op.AuthRequestError(w, r, nil, err, p.op)
		return
	}
	e := oidc.ErrAccessDenied()
	if code == "login_required" {
		e = oidc.ErrLoginRequired()
	}
	op.AuthRequestError(w, r, ar, e, p.op)
}

// Discovery is the OpenID Provider configuration document: the library's,
// with Bindery's own claims and scopes.
func (p *Provider) Discovery(ctx context.Context) any {
	ctx = op.ContextWithIssuer(ctx, p.issuer)
	d := op.CreateDiscoveryConfig(ctx, p.op, p.storage)
	d.Issuer = p.issuer
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	// The library answers form_post with a page that posts the code.
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFragment), string(oidc.ResponseModeFormPost)}
	d.ScopesSupported = []string{"openid", "profile", "email", "phone", "offline_access", "roles"}
	d.ClaimsSupported = []string{
		"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid", "azp",
		"name", "preferred_username", "picture", "updated_at",
		"phone_number", "phone_number_verified", "email", "email_verified",
		"roles", "orgs",
	}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	if p.storage.devices != nil {
		d.GrantTypesSupported = append(d.GrantTypesSupported, oidc.GrantTypeDeviceCode)
	}
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	// Introspection takes a confidential client's secret either way
	// (secretPostAsBasic); revocation also a public client's client_id.
	// No private_key_jwt: clients have no registered keys.
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
	d.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	// The library names RS256 for signed client assertions, which no
	// endpoint here takes.
	d.TokenEndpointAuthSigningAlgValuesSupported = nil
	d.RevocationEndpointAuthSigningAlgValuesSupported = nil
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.BackChannelLogoutSupported, d.BackChannelLogoutSessionSupported = true, true
	return d
}
