package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// CORS of the OpenID Provider's endpoints, so that browser OIDC libraries
// (single-page apps) can use them: discovery and the key set are public to
// every origin; the token, userinfo, revocation and introspection
// endpoints only to the origins of registered clients' redirect URIs,
// read from the OIDC clients view on each request, so the set follows
// registrations as they change. No credentials (cookies) are allowed:
// these endpoints take tokens in headers and forms.

// corsOpen are the paths any origin may read.
var corsOpen = map[string]bool{
	"/.well-known/openid-configuration": true,
	"/.well-known/jwks.json":            true,
}

// corsClients are the paths registered clients' origins may call, with
// their methods.
var corsClients = map[string]string{
	"/oauth2/token":      "POST",
	"/v1/userinfo":       "GET, POST",
	"/oauth2/revoke":     "POST",
	"/oauth2/introspect": "POST",
}

// corsMaxAge is how long a browser may cache a preflight answer (seconds).
const corsMaxAge = "600"

// cors answers preflight requests of the OpenID Provider's endpoints and
// adds the CORS headers to their answers; other paths pass untouched.
func (s *Server) cors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		path := r.URL.Path
		methods, forClients := corsClients[path]
		open := corsOpen[path]
		if !open && !forClients {
			return next(c)
		}
		h := c.Response().Header()
		h.Add(echo.HeaderVary, echo.HeaderOrigin)
		origin := r.Header.Get(echo.HeaderOrigin)
		allowed := ""
		switch {
		case open:
			allowed, methods = "*", "GET"
		case origin != "" && s.clientOrigin(origin):
			allowed = origin
		}
		preflight := r.Method == http.MethodOptions && r.Header.Get(echo.HeaderAccessControlRequestMethod) != ""
		if allowed != "" {
			h.Set(echo.HeaderAccessControlAllowOrigin, allowed)
			if preflight {
				h.Set(echo.HeaderAccessControlAllowMethods, methods+", OPTIONS")
				h.Set(echo.HeaderAccessControlAllowHeaders, "Authorization, Content-Type")
				h.Set(echo.HeaderAccessControlMaxAge, corsMaxAge)
			} else {
				h.Set(echo.HeaderAccessControlExposeHeaders, "WWW-Authenticate, X-Request-Id")
			}
		}
		if preflight {
			// Answered here for every origin: without the allow headers a
			// browser refuses the real request itself.
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}

// clientOrigin reports whether origin is the origin of a registered
// client's redirect URI.
func (s *Server) clientOrigin(origin string) bool {
	if s.OIDCClientsV == nil {
		return false
	}
	for _, c := range s.OIDCClientsV.List() {
		for _, uri := range c.RedirectURIs {
			if originOf(uri) == origin {
				return true
			}
		}
	}
	return false
}

// originOf is the RFC 6454 origin of an absolute URL: scheme://host[:port],
// lower case ("" for anything else).
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}
