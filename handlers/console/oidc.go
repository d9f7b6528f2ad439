package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// ClientID is the console's client at Bindery's own OpenID Provider, and
// CallbackPath its one redirect URI (on the issuer).
const (
	ClientID     = "bindery-console"
	CallbackPath = "/console/signin/callback"
)

// OIDC signs administrators in as a relying party of Bindery's own OpenID
// Provider, exactly as any web app does (docs/sso.md): go-oidc reads the
// discovery document and verifies the id_token against the JWKS, x/oauth2
// runs the code flow with PKCE S256. Their HTTP client reaches the
// provider in process (InProcess), so the server never depends on reaching
// its own public issuer URL through proxies or NAT.
//
// The client is public (PKCE, no secret): the code only ever lands on the
// console's own callback, and the verifier that redeems it is sealed in the
// browser's HttpOnly state cookie; a secret kept in the same process as the
// code that sends it would add nothing but a secret to manage.
type OIDC struct {
	Issuer string
	HTTP   *http.Client
	// Ensure registers the console's client (or brings it up to date)
	// before a sign-in starts.
	Ensure func(ctx context.Context) error

	mu       sync.Mutex
	provider *oidc.Provider
}

// Proof is what a sign-in proved: the account, and the access token the
// console calls the admin API with, until it expires.
type Proof struct {
	AccountID   string
	AccessToken string
	Expires     time.Time
}

func (o *OIDC) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.HTTP)
}

func (o *OIDC) config(ctx context.Context) (*oauth2.Config, *oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		p, err := oidc.NewProvider(o.ctx(ctx), o.Issuer)
		if err != nil {
			return nil, nil, fmt.Errorf("console: discovery: %w", err)
		}
		o.provider = p
	}
	return &oauth2.Config{
		ClientID: ClientID, Endpoint: o.provider.Endpoint(), RedirectURL: o.Issuer + CallbackPath,
		Scopes: []string{oidc.ScopeOpenID, "profile"},
	}, o.provider, nil
}

// AuthURL is where the browser goes to sign in: Bindery's authorization
// endpoint, which shows the QR code (or answers at once from the browser
// session of single sign-on, unless fresh asks for a new sign-in).
func (o *OIDC) AuthURL(ctx context.Context, state, nonce, verifier string, fresh bool) (string, error) {
	if o.Ensure != nil {
		if err := o.Ensure(ctx); err != nil {
			return "", err
		}
	}
	conf, _, err := o.config(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}
	if fresh {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	return conf.AuthCodeURL(state, opts...), nil
}

// Exchange redeems the code with its PKCE verifier and verifies the
// id_token (signature, issuer, audience, expiry, nonce).
func (o *OIDC) Exchange(ctx context.Context, code, verifier, nonce string) (Proof, error) {
	conf, p, err := o.config(ctx)
	if err != nil {
		return Proof{}, err
	}
	tok, err := conf.Exchange(o.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Proof{}, fmt.Errorf("console: code exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: ClientID}).Verify(o.ctx(ctx), raw)
	if err != nil {
		return Proof{}, fmt.Errorf("console: id_token: %w", err)
	}
	if idt.Nonce != nonce {
		return Proof{}, errors.New("console: id_token nonce does not match")
	}
	if tok.AccessToken == "" || tok.Expiry.IsZero() {
		return Proof{}, errors.New("console: no access token")
	}
	return Proof{AccountID: idt.Subject, AccessToken: tok.AccessToken, Expires: tok.Expiry}, nil
}

func newVerifier() string { return oauth2.GenerateVerifier() }

// InProcess is an HTTP client whose requests h serves in this process: the
// console's calls to the OpenID Provider and to the admin API go through
// the same routes, middleware and checks as a network client's.
func InProcess(h http.Handler) *http.Client {
	return &http.Client{Transport: inProcess{h}, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type inProcess struct{ h http.Handler }

// RoundTrip serves req with the handler into a recorder (net/http/httptest's:
// the standard library's in-memory ResponseWriter).
func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.RequestURI = req.URL.RequestURI()
	r.RemoteAddr = "127.0.0.1:0"
	if r.Body == nil {
		r.Body = http.NoBody
	}
	if r.Host == "" {
		r.Host = req.URL.Host
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	res := rec.Result()
	res.Request = req
	return res, nil
}
