package console

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/projections"
)

const (
	cookieName  = "bindery_console"
	stateCookie = "bindery_console_state"
	// renewBefore: a page asked for this close to the access token's
	// expiry first renews the sign-in (without a scan while the browser
	// session of single sign-on lasts), so that its forms still work.
	renewBefore = 3 * time.Minute
)

// session is the sealed cookie's content: who, the access token the
// console calls the admin API with and when it expires, and the CSRF
// token every form of that session carries.
type session struct {
	Account     string `json:"a"`
	AccessToken string `json:"t"`
	Expires     int64  `json:"e"`
	CSRF        string `json:"c"`
}

// signinState is the sealed state cookie of one sign-in round trip.
type signinState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	Expires  int64  `json:"e"`
}

type ctxKey int

const (
	sessionKey ctxKey = iota
	adminKey
)

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey).(*session)
	return s
}

func adminOf(r *http.Request) *projections.Account {
	a, _ := r.Context().Value(adminKey).(*projections.Account)
	return a
}

func (c *Console) readSession(r *http.Request) (*session, bool) {
	ck, err := r.Cookie(cookieName)
	var s session
	if err != nil || !c.open(cookieName, ck.Value, &s) || s.Account == "" || s.CSRF == "" || s.AccessToken == "" ||
		!c.Now().Before(time.Unix(s.Expires, 0)) {
		return nil, false
	}
	return &s, true
}

// isAdmin says whether the account may use the console now.
func (c *Console) isAdmin(id string) (projections.Account, bool) {
	acc, found := c.AccountsV.Get(id)
	return acc, found && acc.Status == account.StatusActive && c.AuthzV.Allowed(acc.ID, AdminPermission, "")
}

// admin lets a request through only with a valid session of an account
// that still exists, is active and holds bindery:admin (checked on every
// request: a revoked grant ends console access at once); a POST must also
// carry the session's CSRF token and come from this origin. A page asked
// for shortly before the session's access token expires renews it first.
func (c *Console) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.readSession(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, http.StatusUnauthorized, "Signed out", "Your console session has ended: sign in again.")
			return
		}
		acc, ok := c.isAdmin(s.Account)
		if !ok {
			c.setCookie(w, cookieName, "", -1)
			c.refuse(w, r)
			return
		}
		if r.Method == http.MethodGet && c.Now().Add(renewBefore).After(time.Unix(s.Expires, 0)) && !strings.HasPrefix(r.URL.Path, "/console/audit/export") {
			http.Redirect(w, r, "/console/signin/start?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil || !sameOrigin(r) ||
				subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.CSRF)) != 1 {
				c.fail(w, r, http.StatusForbidden, "Request refused", "This form did not come from your console session (CSRF check). Reload the page and try again.")
				return
			}
		}
		ctx := context.WithValue(r.Context(), sessionKey, s)
		ctx = context.WithValue(ctx, adminKey, &acc)
		next(w, r.WithContext(ctx))
	}
}

// sameOrigin refuses cross-site form posts where the browser says so
// (Sec-Fetch-Site, or an Origin naming another host); the CSRF token is
// the check that always applies.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

func (c *Console) refuse(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusForbidden, "refused", page{Title: "Not an administrator"})
}

type signinData struct {
	Available bool
	Next      string
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "signin", page{Title: "Sign in", Data: signinData{Available: c.SignIn != nil, Next: safeNext(r.URL.Query().Get("next"))}})
}

// safeNext keeps a post-sign-in destination inside the console.
func safeNext(v string) string {
	if !strings.HasPrefix(v, "/console") || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "\\\r\n") {
		return "/console"
	}
	return v
}

// signinStart sends the browser to Bindery's authorization endpoint with
// a fresh state, nonce and PKCE verifier, sealed in the state cookie.
func (c *Console) signinStart(w http.ResponseWriter, r *http.Request) {
	if c.SignIn == nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Sign-in unavailable", "This server has no OpenID Provider to sign in with.")
		return
	}
	st := signinState{
		State: randomHex(16), Nonce: randomHex(16), Verifier: newVerifier(),
		Next: safeNext(r.URL.Query().Get("next")), Expires: c.Now().Add(10 * time.Minute).Unix(),
	}
	// switch=1 (the refusal page's "another account") asks for a new
	// scan even if this browser is signed in to Bindery.
	to, err := c.SignIn.AuthURL(r.Context(), st.State, st.Nonce, st.Verifier, r.URL.Query().Get("switch") == "1")
	if err != nil {
		c.Logger.Warn("console sign-in cannot start", "err", err)
		c.fail(w, r, http.StatusServiceUnavailable, "Sign-in unavailable", message(err))
		return
	}
	c.setCookie(w, stateCookie, c.seal(stateCookie, st), 600)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// signinCallback finishes the provider's round trip: the state must match
// the state cookie's, the code is exchanged with its PKCE verifier and the
// id_token verified with its nonce; only an active account holding
// bindery:admin gets a session, anyone else sees the refusal page.
func (c *Console) signinCallback(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(stateCookie)
	var st signinState
	q := r.URL.Query()
	if err != nil || c.SignIn == nil || !c.open(stateCookie, ck.Value, &st) || !c.Now().Before(time.Unix(st.Expires, 0)) ||
		subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		c.fail(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in was not started here or took too long: start again.")
		return
	}
	c.setCookie(w, stateCookie, "", -1)
	if e := q.Get("error"); e != "" {
		msg := "The sign-in was refused (" + e + "): start again."
		if e == "access_denied" {
			msg = "The sign-in was cancelled on the phone: start again."
		}
		c.fail(w, r, http.StatusUnauthorized, "Not signed in", msg)
		return
	}
	proof, err := c.SignIn.Exchange(r.Context(), q.Get("code"), st.Verifier, st.Nonce)
	if err != nil {
		c.Logger.Info("console sign-in failed", "err", err)
		c.fail(w, r, http.StatusUnauthorized, "Sign-in failed", "The sign-in did not complete: start again.")
		return
	}
	if _, ok := c.isAdmin(proof.AccountID); !ok {
		c.Logger.Info("console sign-in refused", "account", proof.AccountID)
		c.refuse(w, r)
		return
	}
	s := session{Account: proof.AccountID, AccessToken: proof.AccessToken, Expires: proof.Expires.Unix(), CSRF: randomHex(16)}
	c.setCookie(w, cookieName, c.seal(cookieName, s), max(1, int(proof.Expires.Sub(c.Now()).Seconds())))
	http.Redirect(w, r, safeNext(st.Next), http.StatusSeeOther)
}

// signout ends the console session (the browser session of single
// sign-on is Bindery's, not the console's).
func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	c.setCookie(w, cookieName, "", -1)
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}
