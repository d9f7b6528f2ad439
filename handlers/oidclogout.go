package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	appoidc "github.com/bindery/bindery/internal/app/oidc"
)

// endSession is RP-initiated logout: it ends the browser session (the
// cookie's, or the id_token_hint's sid), clears the cookie and sends the
// browser to the client's registered post_logout_redirect_uri with its
// state. A request it cannot check (a post_logout_redirect_uri not
// registered for the client, a forged id_token_hint) gets Bindery's error
// page, never a redirect.
func (s *Server) endSession(c echo.Context) error {
	r := c.Request()
	es, err := s.OIDC.EndSession(r)
	if err != nil {
		detail := err.Error()
		if oe, ok := err.(*oidc.Error); ok {
			detail = oe.Description + " (" + string(oe.ErrorType) + ")"
		}
		return s.renderError(c, http.StatusBadRequest, "This sign-out request cannot be served", detail)
	}
	in := appoidc.Logout{HintSID: es.SessionID, HintSubject: es.Subject}
	if ck, err := c.Cookie(sessionCookie); err == nil {
		in.Cookie = ck.Value
	}
	if s.SignIn != nil && s.SignIn.Browser != nil {
		if _, err := s.SignIn.Browser.End(r.Context(), s.meta(c, ""), in); err != nil {
			return err
		}
	}
	c.SetCookie(&http.Cookie{
		Name: sessionCookie, Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.Scheme() == "https",
	})
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.Redirect(http.StatusFound, es.RedirectURI)
}
