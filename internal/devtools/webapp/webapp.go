// Package webapp is the demo web app `bindery dev` serves: an ordinary web
// app that signs its users in through Bindery with a stock OpenID Connect
// client (go-oidc and x/oauth2, code flow with PKCE S256), shows the
// signed-in person's claims, and logs out through Bindery's end-session
// endpoint (and is told of logouts elsewhere by back-channel logout).
package webapp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// ClientID is the demo web app's OIDC client in Bindery.
const ClientID = "demo-web"

// Options are what the web app needs to know.
type Options struct {
	Issuer       string // Bindery's issuer
	ClientSecret string
	BaseURL      string // where the web app is served, e.g. http://127.0.0.1:8082
}

// App is the demo web app: an http.Handler.
type App struct {
	opts       Options
	provider   *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	conf       *oauth2.Config
	endSession string

	mu       sync.Mutex
	sessions map[string]*session // by cookie value
}

// session is one browser's state in the web app.
type session struct {
	pending     map[string]pending // sign-ins under way, by state
	logoutState string
	signedIn    *person
}

type pending struct{ verifier, nonce string }

// person is who signed in: the id_token's claims and userinfo's.
type person struct {
	Subject, Name, SID string
	Claims, Userinfo   []claim
	rawIDToken         string
}

type claim struct{ Name, Value string }

const cookieName = "demo_web_session"

// New discovers Bindery and returns the web app.
func New(ctx context.Context, o Options) (*App, error) {
	p, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		EndSession string   `json:"end_session_endpoint"`
		Algs       []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, err
	}
	return &App{
		opts: o, provider: p, endSession: meta.EndSession,
		verifier: p.Verifier(&oidc.Config{ClientID: ClientID, SupportedSigningAlgs: meta.Algs}),
		conf: &oauth2.Config{
			ClientID: ClientID, ClientSecret: o.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: o.BaseURL + "/callback", Scopes: []string{oidc.ScopeOpenID, "profile", "email", "phone", "roles"},
		},
		sessions: map[string]*session{},
	}, nil
}

// ServeHTTP routes the web app's pages.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case "/":
		a.home(w, r, "")
	case "/login":
		a.login(w, r)
	case "/callback":
		a.callback(w, r)
	case "/logout":
		a.logout(w, r)
	case "/signed-out":
		a.signedOut(w, r)
	case "/backchannel-logout":
		a.backChannelLogout(w, r)
	default:
		http.NotFound(w, r)
	}
}

func random() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionOf is the browser's session, made (with its cookie) when create.
func (a *App) sessionOf(w http.ResponseWriter, r *http.Request, create bool) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, err := r.Cookie(cookieName); err == nil {
		if s := a.sessions[c.Value]; s != nil {
			return s
		}
	}
	if !create {
		return nil
	}
	id := random()
	s := &session{pending: map[string]pending{}}
	a.sessions[id] = s
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return s
}

// login starts the code flow: state, nonce and the PKCE verifier stay here.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	s := a.sessionOf(w, r, true)
	state, p := random(), pending{verifier: oauth2.GenerateVerifier(), nonce: random()}
	a.mu.Lock()
	s.pending[state] = p
	a.mu.Unlock()
	http.Redirect(w, r, a.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(p.verifier), oidc.Nonce(p.nonce)), http.StatusFound)
}

// callback finishes it: the code exchanged with the verifier, the id_token
// verified, userinfo read.
func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	s := a.sessionOf(w, r, false)
	q := r.URL.Query()
	if s == nil {
		a.home(w, r, "this browser started no sign-in here")
		return
	}
	a.mu.Lock()
	p, ok := s.pending[q.Get("state")]
	delete(s.pending, q.Get("state"))
	a.mu.Unlock()
	switch {
	case !ok:
		a.home(w, r, "unknown state")
		return
	case q.Get("error") != "":
		a.home(w, r, "Bindery answered "+q.Get("error"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	tok, err := a.conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		a.home(w, r, "code exchange: "+err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(ctx, raw)
	if err == nil && idt.Nonce != p.nonce {
		err = errors.New("nonce mismatch")
	}
	if err != nil {
		a.home(w, r, "id_token: "+err.Error())
		return
	}
	var claims map[string]any
	_ = idt.Claims(&claims)
	who := &person{Subject: idt.Subject, rawIDToken: raw, Claims: sorted(claims)}
	who.Name, _ = claims["name"].(string)
	who.SID, _ = claims["sid"].(string)
	if ui, err := a.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		var m map[string]any
		_ = ui.Claims(&m)
		who.Userinfo = sorted(m)
	}
	a.mu.Lock()
	s.signedIn = who
	a.mu.Unlock()
	http.Redirect(w, r, "/", http.StatusFound)
}

// logout forgets the person here and sends the browser to Bindery's
// end-session endpoint, which ends the browser session there too.
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	s := a.sessionOf(w, r, true)
	a.mu.Lock()
	who := s.signedIn
	s.signedIn, s.logoutState = nil, random()
	state := s.logoutState
	a.mu.Unlock()
	if who == nil || a.endSession == "" {
		http.Redirect(w, r, "/", http.StatusFound)
		return
	}
	q := url.Values{"id_token_hint": {who.rawIDToken}, "post_logout_redirect_uri": {a.opts.BaseURL + "/signed-out"}, "state": {state}}
	http.Redirect(w, r, a.endSession+"?"+q.Encode(), http.StatusFound)
}

func (a *App) signedOut(w http.ResponseWriter, r *http.Request) {
	s := a.sessionOf(w, r, false)
	msg := "unexpected sign-out answer"
	if s != nil {
		a.mu.Lock()
		if s.logoutState != "" && r.URL.Query().Get("state") == s.logoutState {
			msg = ""
			s.logoutState = ""
		}
		a.mu.Unlock()
	}
	if msg != "" {
		a.home(w, r, msg)
		return
	}
	a.render(w, view{SignedOut: true})
}

// backChannelLogout takes Bindery's logout token and signs out every
// session here that signed in through that browser session (its sid).
func (a *App) backChannelLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		http.Error(w, "POST a logout_token", http.StatusBadRequest)
		return
	}
	tok, err := a.verifier.Verify(r.Context(), r.PostForm.Get("logout_token"))
	var c struct {
		SID    string         `json:"sid"`
		Events map[string]any `json:"events"`
	}
	if err != nil || tok.Claims(&c) != nil || c.SID == "" || c.Events["http://schemas.openid.net/event/backchannel-logout"] == nil {
		http.Error(w, "not a logout token", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	for _, s := range a.sessions {
		if s.signedIn != nil && s.signedIn.SID == c.SID {
			s.signedIn = nil
		}
	}
	a.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (a *App) home(w http.ResponseWriter, r *http.Request, problem string) {
	v := view{Problem: problem, Issuer: a.opts.Issuer}
	if s := a.sessionOf(w, r, false); s != nil {
		a.mu.Lock()
		v.Person = s.signedIn
		a.mu.Unlock()
	}
	a.render(w, v)
}

type view struct {
	Person    *person
	Problem   string
	Issuer    string
	SignedOut bool
}

func (a *App) render(w http.ResponseWriter, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	v.Issuer = a.opts.Issuer
	_ = page.Execute(w, v)
}

func sorted(m map[string]any) []claim {
	out := make([]claim, 0, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		out = append(out, claim{k, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
