package handlers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/internal/adapters/oidcop"
)

// OIDCProvider is the OpenID Provider (internal/adapters/oidcop): the
// library's endpoints, and what the hosted login page needs of it.
type OIDCProvider interface {
	// Handler serves authorize and its callback, token, userinfo,
	// revocation, introspection, end session and device authorization.
	Handler() http.Handler
	// CallbackURL is where a granted request goes to get its code.
	CallbackURL(id string) string
	// Deny sends the browser back to the client with an OAuth error.
	Deny(w http.ResponseWriter, r *http.Request, id, code string)
	// Discovery is the provider configuration document.
	Discovery(ctx context.Context) any
	// EndSession checks an RP-initiated logout request.
	EndSession(r *http.Request) (oidcop.EndSession, error)
}

// Paths of the OpenID Provider (the token and userinfo endpoints are the
// session API's, shared: see oauthToken and userinfo).
const (
	oidcAuthorizePath  = "/oauth2/authorize"
	oidcCallbackPath   = "/oauth2/authorize/callback"
	oidcRevokePath     = "/oauth2/revoke"
	oidcIntrospectPath = "/oauth2/introspect"
	oidcEndSessionPath = "/oauth2/end_session"
	oidcDevicePath     = "/oauth2/device_authorization"
)

func (s *Server) oidcRoutes(e *echo.Echo) {
	if s.OIDC == nil {
		return
	}
	h := echo.WrapHandler(s.OIDC.Handler())
	page := s.oidcErrorPage(s.OIDC.Handler())
	e.GET(oidcAuthorizePath, page)
	e.POST(oidcAuthorizePath, page)
	e.GET(oidcCallbackPath, page)
	e.POST(oidcRevokePath, h, s.publicLimit)
	e.POST(oidcIntrospectPath, h, s.publicLimit)
	e.GET(oidcEndSessionPath, s.endSession, s.publicLimit)
	e.POST(oidcEndSessionPath, s.endSession, s.publicLimit)
	e.POST(oidcDevicePath, h, s.publicLimit)
	s.oidcLoginRoutes(e)
}

// oidcToken reports whether a token request is for the OpenID Provider:
// a code grant from an identified client (client_id in the form or HTTP
// Basic), or a refresh_token grant of a registered OIDC client (a web
// app's refresh token). The rest is the session API's refresh_token grant
// (client_id is then the mini-program app), which answers everything
// else as RFC 6749 says.
func (s *Server) oidcToken(c echo.Context) bool {
	r := c.Request()
	user, _, basic := r.BasicAuth()
	client := r.PostForm.Get("client_id")
	switch r.PostForm.Get("grant_type") {
	case "authorization_code", "urn:ietf:params:oauth:grant-type:device_code":
		return basic || client != ""
	case "refresh_token":
		if basic {
			if u, err := url.QueryUnescape(user); err == nil {
				client = u
			}
		}
		if client == "" || s.OIDCClientsV == nil {
			return false
		}
		_, registered := s.OIDCClientsV.Get(client)
		return registered
	}
	return false
}

// oidcAccessToken reports whether the bearer token is one of the OpenID
// Provider's access tokens (a JWT with client_id, RFC 9068), which its
// userinfo answers; the session API's id_tokens have none.
func oidcAccessToken(c echo.Context) bool {
	tok, ok := bearer(c)
	if !ok {
		return false
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		ClientID string `json:"client_id"`
	}
	return json.Unmarshal(raw, &claims) == nil && claims.ClientID != ""
}

// pageRecorder holds back an error the library answers as plain text, so
// that the browser gets Bindery's error page instead; anything else
// (redirects, JSON) passes through.
type pageRecorder struct {
	http.ResponseWriter
	status int
	held   bool
	body   bytes.Buffer
}

func (p *pageRecorder) WriteHeader(status int) {
	p.status = status
	if status >= 400 && strings.HasPrefix(p.Header().Get("Content-Type"), "text/plain") {
		p.held = true
		return
	}
	p.ResponseWriter.WriteHeader(status)
}

func (p *pageRecorder) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.WriteHeader(http.StatusOK)
	}
	if p.held {
		return p.body.Write(b)
	}
	return p.ResponseWriter.Write(b)
}

// oidcErrorPage serves a browser-facing endpoint of the library; an error
// it would show as text (an unknown client or redirect URI, which must
// never be redirected to) becomes Bindery's error page.
func (s *Server) oidcErrorPage(h http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		rec := &pageRecorder{ResponseWriter: c.Response()}
		h.ServeHTTP(rec, c.Request())
		if rec.held {
			c.Response().Header().Del(echo.HeaderContentType)
			return s.renderError(c, rec.status, "This sign-in request cannot be served", strings.TrimSpace(rec.body.String()))
		}
		return nil
	}
}
