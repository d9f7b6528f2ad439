package oidcop

import (
	"crypto"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/domain/oidcclient"
	"github.com/bindery/bindery/projections"
)

// IDTokenLifetime is how long an id_token of a web app lives.
const IDTokenLifetime = time.Hour

// client is a registered OIDC client as the library sees it.
type client struct {
	c        projections.OIDCClient
	loginURL func(id string) string
}

var _ op.Client = client{}

func (c client) GetID() string                    { return c.c.ClientID }
func (c client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }
func (c client) LoginURL(id string) string        { return c.loginURL(id) }

// AccessTokenType is bearer for the library: it asks the provider's Crypto
// for the token, which signs an RFC 9068 JWT (typ at+jwt) itself, since
// the library's own JWTs say typ JWT.
func (c client) AccessTokenType() op.AccessTokenType {
	return op.AccessTokenTypeBearer
}
func (c client) IDTokenLifetime() time.Duration { return IDTokenLifetime }

// DevMode lets http redirect URIs through once they matched exactly: the
// registration already allows http for loopback hosts only.
func (c client) DevMode() bool { return true }

func (c client) ApplicationType() op.ApplicationType {
	if c.c.Type == oidcclient.Public {
		return op.ApplicationTypeUserAgent
	}
	return op.ApplicationTypeWeb
}

func (c client) AuthMethod() oidc.AuthMethod {
	if c.c.Type == oidcclient.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic // client_secret_post is accepted too (Config.AuthMethodPost)
}

func (c client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, 0, len(c.c.GrantTypes))
	for _, g := range c.c.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}

func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c client) IsScopeAllowed(scope string) bool     { return slices.Contains(c.c.Scopes, scope) }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true } // the scope's claims in the id_token too (SPEC §7)
func (c client) ClockSkew() time.Duration             { return 0 }

// authRequest is an authorization request as the library sees it.
type authRequest struct {
	a     *authorization.Authorization
	state string
}

var _ op.AuthRequest = authRequest{}

func (r authRequest) GetID() string          { return r.a.ID() }
func (r authRequest) GetACR() string         { return "" }
func (r authRequest) GetAMR() []string       { return r.a.Grant().AMR }
func (r authRequest) GetAudience() []string  { return []string{r.a.Requested().ClientID} }
func (r authRequest) GetAuthTime() time.Time { return r.a.Grant().AuthTime }
func (r authRequest) GetClientID() string    { return r.a.Requested().ClientID }
func (r authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	req := r.a.Requested()
	if req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: oidc.CodeChallengeMethod(req.CodeChallengeMethod)}
}
func (r authRequest) GetNonce() string                   { return r.a.Requested().Nonce }
func (r authRequest) GetRedirectURI() string             { return r.a.Requested().RedirectURI }
func (r authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseTypeCode }
func (r authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(r.a.Requested().ResponseMode)
}
func (r authRequest) GetScopes() []string     { return r.a.Requested().Scopes }
func (r authRequest) GetState() string        { return r.state }
func (r authRequest) GetSubject() string      { return r.a.Grant().AccountID }
func (r authRequest) Done() bool              { return r.a.State() == authorization.Granted }
func (r authRequest) SessionID() string       { return r.a.Grant().SessionID }
func (r authRequest) AuthorizationID() string { return r.a.ID() }

// signingKey is the Signer's active key.
type signingKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

// publicKey is one published key of the set.
type publicKey struct{ k jose.JSONWebKey }

func (k publicKey) ID() string                         { return k.k.KeyID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.SignatureAlgorithm(k.k.Algorithm) }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.k.Key }
