package handlers

import (
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/browsersession"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
)

// The hosted login page's alternatives to the QR code (SPEC §7): a
// password, or a one-time code by SMS or e-mail. Each is a JSON call of
// the page's script; a sign-in answers where the browser goes next (on to
// its code, as after a confirmed QR) and sets the browser session cookie.

type loginPasswordRequest struct {
	Username string `json:"username"` // or an e-mail address, or a phone number
	Password string `json:"password"`
}

type loginCodeSendRequest struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
}

type loginCodeVerifyRequest struct {
	To  string `json:"to"`
	OTP string `json:"otp"`
}

func (s *Server) oidcLoginAltRoutes(e *echo.Echo) {
	if s.SignIn.Credentials == nil {
		return
	}
	e.POST(oidcLoginPath+"/password", s.loginPassword, s.publicLimit)
	e.POST(oidcLoginPath+"/otp/send", s.loginCodeSend, s.publicLimit)
	e.POST(oidcLoginPath+"/otp/verify", s.loginCodeVerify, s.publicLimit)
}

// bindPage decodes a call of the login page's script: JSON only (a
// cross-site form cannot send it without the page's origin).
func bindPage(c echo.Context, v any) error {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mt != "application/json" {
		return &domain.Error{Kind: domain.KindUnsupported, Code: "unsupported_media_type", Message: "send a JSON body with Content-Type: application/json"}
	}
	return bind(c, v)
}

func (s *Server) loginPassword(c echo.Context) error {
	var req loginPasswordRequest
	if err := bindPage(c, &req); err != nil {
		return err
	}
	for _, f := range [][2]string{{"username", req.Username}, {"password", req.Password}} {
		if err := required(f[0], f[1]); err != nil {
			return err
		}
	}
	id := c.QueryParam("id")
	out, err := s.SignIn.Password(c.Request().Context(), s.meta(c, loginActor), id, req.Username, req.Password)
	if err != nil {
		return err
	}
	return s.signedIn(c, id, out)
}

func (s *Server) loginCodeSend(c echo.Context) error {
	var req loginCodeSendRequest
	if err := bindPage(c, &req); err != nil {
		return err
	}
	for _, f := range [][2]string{{"channel", req.Channel}, {"to", req.To}} {
		if err := required(f[0], f[1]); err != nil {
			return err
		}
	}
	ttl, err := s.SignIn.SendCode(c.Request().Context(), s.meta(c, loginActor), c.QueryParam("id"), req.Channel, req.To)
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusAccepted, map[string]int{"expires_in": ttl})
}

func (s *Server) loginCodeVerify(c echo.Context) error {
	var req loginCodeVerifyRequest
	if err := bindPage(c, &req); err != nil {
		return err
	}
	for _, f := range [][2]string{{"to", req.To}, {"otp", req.OTP}} {
		if err := required(f[0], f[1]); err != nil {
			return err
		}
	}
	id := c.QueryParam("id")
	out, err := s.SignIn.VerifyCode(c.Request().Context(), s.meta(c, loginActor), id, req.To, req.OTP)
	if err != nil {
		return err
	}
	return s.signedIn(c, id, out)
}

// signedIn answers a sign-in by an alternative: the browser session cookie,
// the page's QR login cookie cleared, and where the page goes next.
func (s *Server) signedIn(c echo.Context, id string, out appoidc.Outcome) error {
	s.endPageLogin(c, out)
	noStore(c)
	return c.JSON(http.StatusOK, map[string]string{"redirect": s.OIDC.CallbackURL(id)})
}

// endPageLogin clears the page's QR login cookie and sets the browser
// session's, once the page's sign-in is over.
func (s *Server) endPageLogin(c echo.Context, out appoidc.Outcome) {
	c.SetCookie(&http.Cookie{Name: loginCookie, Path: oidcLoginPath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if out.Cookie != "" {
		c.SetCookie(&http.Cookie{
			Name: sessionCookie, Value: out.Cookie, Path: "/", MaxAge: int(browsersession.TTL.Seconds()),
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.Scheme() == "https",
		})
	}
}
