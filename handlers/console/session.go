package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/projections"
)

// SignIn is how an administrator proves who they are. The console's one
// implementation is meant to be an OIDC client of Bindery's own OpenID
// Provider (SPEC §7, §9: the QR page, confirmed with the mini program);
// until that provider exists the server passes none, and the sign-in page
// says that sign-in is unavailable.
type SignIn interface {
	// Start sends the browser to the provider; state comes back to
	// Finish and must be checked there.
	Start(w http.ResponseWriter, r *http.Request, state string)
	// Finish completes the sign-in from the provider's redirect and
	// answers the account id it proved.
	Finish(ctx context.Context, r *http.Request, state string) (accountID string, err error)
}

const (
	cookieName  = "bindery_console"
	stateCookie = "bindery_console_state"
	sessionTTL  = 8 * time.Hour
)

// session is the signed cookie's content: who, until when, and the CSRF
// token every form of that session carries.
type session struct {
	Account string `json:"a"`
	Expires int64  `json:"e"`
	CSRF    string `json:"c"`
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

func (c *Console) sign(data []byte) string {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte("console session v1\x00"))
	m.Write(data)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (c *Console) encodeSession(s session) string {
	raw, _ := json.Marshal(s)
	return base64.RawURLEncoding.EncodeToString(raw) + "." + c.sign(raw)
}

func (c *Console) decodeSession(v string) (*session, bool) {
	body, mac, ok := strings.Cut(v, ".")
	if !ok || len(c.Key) == 0 {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || subtle.ConstantTimeCompare([]byte(mac), []byte(c.sign(raw))) != 1 {
		return nil, false
	}
	var s session
	if json.Unmarshal(raw, &s) != nil || s.Account == "" || s.CSRF == "" || c.Now().Unix() >= s.Expires {
		return nil, false
	}
	return &s, true
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/console", MaxAge: maxAge,
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteStrictMode,
	})
}

// admin lets a request through only with a valid session of an account
// that still exists, is active and holds bindery:admin (checked on every
// request: a revoked grant ends console access at once); a POST must also
// carry the session's CSRF token and come from this origin.
func (c *Console) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(cookieName)
		var s *session
		ok := err == nil
		if ok {
			s, ok = c.decodeSession(ck.Value)
		}
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, http.StatusUnauthorized, "Signed out", "Your console session has ended: sign in again.")
			return
		}
		acc, found := c.AccountsV.Get(s.Account)
		if !found || acc.Status != account.StatusActive || !c.AuthzV.Allowed(acc.ID, AdminPermission, "") {
			c.setCookie(w, cookieName, "", -1)
			c.refuse(w, r)
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

func (c *Console) signinStart(w http.ResponseWriter, r *http.Request) {
	if c.SignIn == nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Sign-in unavailable", "This server has no OpenID Provider to sign in with yet.")
		return
	}
	state := randomHex(16)
	c.setCookie(w, stateCookie, c.encodeSession(session{Account: safeNext(r.URL.Query().Get("next")), Expires: c.Now().Add(10 * time.Minute).Unix(), CSRF: state}), 600)
	c.SignIn.Start(w, r, state)
}

// signinCallback finishes the provider's round trip: the state cookie
// must match, and only an active account holding bindery:admin gets a
// session; anyone else sees the refusal page.
func (c *Console) signinCallback(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(stateCookie)
	var st *session
	ok := err == nil && c.SignIn != nil
	if ok {
		st, ok = c.decodeSession(ck.Value)
	}
	if !ok {
		c.fail(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in was not started here or took too long: start again.")
		return
	}
	c.setCookie(w, stateCookie, "", -1)
	id, err := c.SignIn.Finish(r.Context(), r, st.CSRF)
	if err != nil {
		c.Logger.Info("console sign-in failed", "err", err)
		c.fail(w, r, http.StatusUnauthorized, "Sign-in failed", "The sign-in did not complete: start again.")
		return
	}
	acc, found := c.AccountsV.Get(id)
	if !found || acc.Status != account.StatusActive || !c.AuthzV.Allowed(id, AdminPermission, "") {
		c.Logger.Info("console sign-in refused", "account", id)
		c.refuse(w, r)
		return
	}
	c.setCookie(w, cookieName, c.encodeSession(session{Account: id, Expires: c.Now().Add(sessionTTL).Unix(), CSRF: randomHex(16)}), int(sessionTTL.Seconds()))
	http.Redirect(w, r, safeNext(st.Account), http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	c.setCookie(w, cookieName, "", -1)
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}
