package handlers

import (
	"bytes"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
	"github.com/bindery/bindery/internal/app/qr"
)

// loginCSP lets the hosted login page run its own script (which follows
// the QR login) and nothing else.
const loginCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// loginCookie holds the poll token of the QR login a hosted login page
// shows: HttpOnly, so the page itself never holds it.
const loginCookie = "bindery_login_qr"

// sessionCookie holds the browser session of single sign-on: HttpOnly,
// SameSite=Lax, Secure on https.
const sessionCookie = "bindery_session"

// loginWait bounds one long-poll of the hosted login page.
const loginWait = 25 * time.Second

const oidcLoginPath = "/oidc/login"

func (s *Server) oidcLoginRoutes(e *echo.Echo) {
	if s.SignIn == nil || s.QR == nil {
		return
	}
	e.GET(oidcLoginPath, s.loginPage, s.publicLimit)
	e.POST(oidcLoginPath+"/qr", s.loginFreshQR, s.publicLimit)
	e.GET(oidcLoginPath+"/wait", s.loginWait, s.publicLimit)
	e.GET(oidcLoginPath+"/continue", s.loginContinue, s.publicLimit)
	s.oidcLoginAltRoutes(e)
}

type loginView struct {
	AuthorizationID, ClientName, AppName string
	QRID, QRURL, ImageURL                string
	ExpiresIn                            int
	appoidc.Alternatives
}

// DefaultChannel is the code channel the page selects: the login_hint's,
// or the first offered.
func (v loginView) DefaultChannel() string {
	if v.HintChannel != "" || len(v.Channels) == 0 {
		return v.HintChannel
	}
	return v.Channels[0]
}

func (s *Server) setLoginCookie(c echo.Context, q qr.Started) {
	c.SetCookie(&http.Cookie{
		Name: loginCookie, Value: q.PollToken, Path: oidcLoginPath, MaxAge: q.ExpiresIn,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.Scheme() == "https",
	})
}

// beginLogin opens a QR login for the request; done reports that the
// browser was already answered (prompt=none sent it back to the client).
func (s *Server) beginLogin(c echo.Context) (appoidc.Page, bool, error) {
	id := c.QueryParam("id")
	r := c.Request()
	var session string
	if ck, err := c.Cookie(sessionCookie); err == nil {
		session = ck.Value
	}
	pg, out, err := s.SignIn.Begin(r.Context(), s.meta(c, ""), id, c.RealIP(), r.UserAgent(), session)
	if err != nil {
		return appoidc.Page{}, false, err
	}
	if out != nil {
		if out.Granted {
			return appoidc.Page{}, true, c.Redirect(http.StatusFound, s.OIDC.CallbackURL(id))
		}
		s.OIDC.Deny(c.Response(), r, id, out.Error)
		return appoidc.Page{}, true, nil
	}
	s.setLoginCookie(c, pg.QR)
	return pg, false, nil
}

// loginPage is the hosted login page of an authorization request.
func (s *Server) loginPage(c echo.Context) error {
	pg, done, err := s.beginLogin(c)
	if done {
		return err
	}
	if err != nil {
		return s.loginProblem(c, err)
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, "oidc-login.html", loginView{
		AuthorizationID: pg.AuthorizationID, ClientName: pg.ClientName, AppName: pg.AppName,
		QRID: pg.QR.QRID, QRURL: pg.QR.QRURL, ImageURL: pg.QR.ImageURL, ExpiresIn: pg.QR.ExpiresIn,
		Alternatives: pg.Alternatives,
	}); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", loginCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// loginFreshQR replaces an expired QR code of the page.
func (s *Server) loginFreshQR(c echo.Context) error {
	pg, done, err := s.beginLogin(c)
	if done {
		return nil
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"qr_id": pg.QR.QRID, "qr_url": pg.QR.QRURL, "image_url": pg.QR.ImageURL, "expires_in": pg.QR.ExpiresIn,
	})
}

// loginWait follows the page's QR login (long-poll). A QR bound to an
// authorization request never answers tokens: only its state.
func (s *Server) loginWait(c echo.Context) error {
	ck, err := c.Cookie(loginCookie)
	if err != nil {
		return qr.ErrPollTokenRequired
	}
	st, pos, err := s.QR.Poll(c.Request().Context(), s.meta(c, ""), c.QueryParam("qr"), ck.Value, c.QueryParam("known"), loginWait)
	if err != nil {
		return err
	}
	out := map[string]any{"state": st.State, "expires_in": st.ExpiresIn}
	if st.ScannedBy != nil {
		out["scanned_by"] = map[string]string{"display_name": st.ScannedBy.DisplayName}
	}
	return commandJSON(c, http.StatusOK, pos, out)
}

// loginContinue ends the page's sign-in: a confirmed QR sends the browser
// on to get its code, a cancelled one back to the client with
// access_denied.
func (s *Server) loginContinue(c echo.Context) error {
	ck, err := c.Cookie(loginCookie)
	if err != nil {
		return s.loginProblem(c, qr.ErrPollTokenRequired)
	}
	id := c.QueryParam("id")
	out, err := s.SignIn.Complete(c.Request().Context(), s.meta(c, ""), id, c.QueryParam("qr"), ck.Value)
	if err != nil {
		return s.loginProblem(c, err)
	}
	s.endPageLogin(c, out)
	if !out.Granted {
		s.OIDC.Deny(c.Response(), c.Request(), id, out.Error)
		return nil
	}
	return c.Redirect(http.StatusFound, s.OIDC.CallbackURL(id))
}

// loginProblem shows a failure of the login page as Bindery's error page.
func (s *Server) loginProblem(c echo.Context, err error) error {
	var de *domain.Error
	if !errors.As(err, &de) {
		return err
	}
	de, status := toProblem(de)
	return s.renderError(c, status, "This sign-in cannot go on", de.Message+" ("+de.Code+")")
}

// renderError is Bindery's error page for browsers.
func (s *Server) renderError(c echo.Context, status int, title, detail string) error {
	return renderPage(c, status, "oidc-error.html", map[string]string{"Title": title, "Detail": detail})
}
