package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	domainlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/login"
	"github.com/bindery/bindery/internal/crypto/hostcode"
)

// loginActor attributes public login and bind commands: nobody is
// authenticated yet.
const loginActor = "system"

func (s *Server) loginRoutes(e *echo.Echo) {
	if s.Login == nil {
		return
	}
	e.POST("/v1/apps/:app/login/code", s.loginCode, s.publicLimit)
	e.POST("/v1/login/code", s.loginRoutedCode, s.publicLimit)
	e.POST("/v1/apps/:app/login/phone", s.loginPhone, s.publicLimit)
	e.POST("/v1/bind/phone", s.bindPhone, s.publicLimit)
	e.POST("/v1/bind/otp/send", s.sendOTP, s.publicLimit)
	e.POST("/v1/bind/otp/verify", s.verifyOTP, s.publicLimit)
	e.POST("/v1/bind/password", s.bindPassword, s.publicLimit)
	e.POST("/v1/register", s.register, s.publicLimit)
	if s.Accounts != nil {
		e.DELETE("/v1/accounts/:id/bindings/:binding", s.unbind, s.admin)
	}
}

type loginCodeRequest struct {
	Code string `json:"code"`
}

type loginPhoneRequest struct {
	Code      string `json:"code"`
	LoginCode string `json:"login_code"`
}

type bindPhoneRequest struct {
	BindTicket string `json:"bind_ticket"`
	PhoneCode  string `json:"phone_code"`
}

type otpSendRequest struct {
	BindTicket string `json:"bind_ticket"`
	Channel    string `json:"channel"`
	To         string `json:"to"`
}

type otpVerifyRequest struct {
	BindTicket string `json:"bind_ticket"`
	To         string `json:"to"`
	OTP        string `json:"otp"`
}

type bindPasswordRequest struct {
	BindTicket string `json:"bind_ticket"`
	Username   string `json:"username"`
	Password   string `json:"password"`
}

type registerRequest struct {
	BindTicket  string `json:"bind_ticket"`
	DisplayName string `json:"display_name"`
	AvatarURL   string `json:"avatar_url"`
}

func required(field, v string) error {
	if v == "" {
		return domain.Invalid("%s: required", field)
	}
	return nil
}

// codeFields bounds the codes a request carries before anything is
// looked up or sent to WeChat: no issuer hands out a code longer than
// hostcode.MaxCodeLen, so a longer one is invalid_code unread.
func codeFields(codes ...string) error {
	for _, v := range codes {
		if len(v) > hostcode.MaxCodeLen {
			return domainlogin.ErrInvalidCode
		}
	}
	return nil
}

// outcome answers a login, bind or registration; tokens and tickets are
// never cached.
// outcome answers a login or bind, counting it by status (OK,
// SOCIAL_BIND, USER_REGISTER) or by the problem code it failed with.
func (s *Server) outcome(c echo.Context, out login.Outcome, pos events.Position, err error) error {
	if err != nil {
		de, _ := problemOf(err, s.StoreUnavailable)
		s.Metrics.LoginOutcomes.WithLabelValues(de.Code).Inc()
		return err
	}
	s.Metrics.LoginOutcomes.WithLabelValues(out.Status).Inc()
	noStore(c)
	return commandJSON(c, http.StatusOK, pos, out)
}

func (s *Server) loginCode(c echo.Context) error {
	var req loginCodeRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if err := required("code", req.Code); err != nil {
		return err
	}
	if err := codeFields(req.Code); err != nil {
		return err
	}
	out, pos, err := s.Login.Code.Handle(c.Request().Context(), s.meta(c, loginActor), login.CodeLogin{App: c.Param("app"), Code: req.Code})
	return s.outcome(c, out, pos, err)
}

func (s *Server) loginRoutedCode(c echo.Context) error {
	var req loginCodeRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if err := required("code", req.Code); err != nil {
		return err
	}
	if err := codeFields(req.Code); err != nil {
		return err
	}
	out, pos, err := s.Login.Code.HandleRouted(c.Request().Context(), s.meta(c, loginActor), login.RoutedCodeLogin{Code: req.Code})
	return s.outcome(c, out, pos, err)
}

func (s *Server) loginPhone(c echo.Context) error {
	var req loginPhoneRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if err := required("code", req.Code); err != nil {
		return err
	}
	if err := codeFields(req.Code, req.LoginCode); err != nil {
		return err
	}
	out, pos, err := s.Login.Phone.Handle(c.Request().Context(), s.meta(c, loginActor), login.PhoneLogin{App: c.Param("app"), PhoneCode: req.Code, LoginCode: req.LoginCode})
	return s.outcome(c, out, pos, err)
}

func (s *Server) bindPhone(c echo.Context) error {
	var req bindPhoneRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if err := required("bind_ticket", req.BindTicket); err != nil {
		return err
	}
	if err := required("phone_code", req.PhoneCode); err != nil {
		return err
	}
	if err := codeFields(req.PhoneCode, req.BindTicket); err != nil {
		return err
	}
	out, pos, err := s.Login.BindPhone.Handle(c.Request().Context(), s.meta(c, loginActor), login.BindPhone{Ticket: req.BindTicket, PhoneCode: req.PhoneCode})
	return s.outcome(c, out, pos, err)
}

func (s *Server) sendOTP(c echo.Context) error {
	var req otpSendRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	for _, f := range [][2]string{{"bind_ticket", req.BindTicket}, {"channel", req.Channel}, {"to", req.To}} {
		if err := required(f[0], f[1]); err != nil {
			return err
		}
	}
	ttl, pos, err := s.Login.SendOTP.Handle(c.Request().Context(), s.meta(c, loginActor), login.SendOTP{Ticket: req.BindTicket, Channel: req.Channel, To: req.To})
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusAccepted, pos, map[string]int{"expires_in": ttl})
}

func (s *Server) verifyOTP(c echo.Context) error {
	var req otpVerifyRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	for _, f := range [][2]string{{"bind_ticket", req.BindTicket}, {"to", req.To}, {"otp", req.OTP}} {
		if err := required(f[0], f[1]); err != nil {
			return err
		}
	}
	out, pos, err := s.Login.VerifyOTP.Handle(c.Request().Context(), s.meta(c, loginActor), login.VerifyOTP{Ticket: req.BindTicket, To: req.To, OTP: req.OTP})
	return s.outcome(c, out, pos, err)
}

func (s *Server) bindPassword(c echo.Context) error {
	var req bindPasswordRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	for _, f := range [][2]string{{"bind_ticket", req.BindTicket}, {"username", req.Username}, {"password", req.Password}} {
		if err := required(f[0], f[1]); err != nil {
			return err
		}
	}
	out, pos, err := s.Login.BindPassword.Handle(c.Request().Context(), s.meta(c, loginActor), login.BindPassword{Ticket: req.BindTicket, Username: req.Username, Password: req.Password})
	return s.outcome(c, out, pos, err)
}

func (s *Server) register(c echo.Context) error {
	var req registerRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if err := required("bind_ticket", req.BindTicket); err != nil {
		return err
	}
	out, pos, err := s.Login.Register.Handle(c.Request().Context(), s.meta(c, loginActor), login.Register{Ticket: req.BindTicket, DisplayName: req.DisplayName, AvatarURL: req.AvatarURL})
	return s.outcome(c, out, pos, err)
}

func (s *Server) unbind(c echo.Context) error {
	id, err := accountID(c, "id")
	if err != nil {
		return err
	}
	b := c.Param("binding")
	if len(b) != 24 {
		return account.ErrBindingNotFound
	}
	pos, err := s.Accounts.Unbind(c.Request().Context(), s.adminMeta(c), id, b)
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusNoContent, pos, nil)
}
