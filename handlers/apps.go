package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/app"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/apps"
	"github.com/bindery/bindery/projections"
)

func (s *Server) appRoutes(e *echo.Echo) {
	if s.Apps == nil {
		return
	}
	e.PUT("/v1/apps/:app", s.putApp, s.admin)
	e.GET("/v1/apps/:app", s.getApp, s.admin)
}

// appRequest is the SPEC §3 app body. Secrets are write-only: leaving one
// out of an update keeps the stored one.
type appRequest struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	WeChat *struct {
		AppID  string `json:"appid"`
		Secret string `json:"secret"`
	} `json:"wechat"`
	Host *struct {
		Secret string `json:"secret"`
	} `json:"host"`
	MatchRules    []string `json:"match_rules"`
	OnNoMatch     string   `json:"on_no_match"`
	AccountSource *struct {
		Mode   string `json:"mode"`
		URL    string `json:"url"`
		Secret string `json:"secret"`
	} `json:"account_source"`
	FieldMapping map[string]string `json:"field_mapping"`
	QR           *struct {
		Mode string `json:"mode"`
		Page string `json:"page"`
	} `json:"qr"`
}

// appView is how an app reads: secrets only as "secret_set".
type appView struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Kind   string `json:"kind"`
	WeChat *struct {
		AppID     string `json:"appid"`
		SecretSet bool   `json:"secret_set"`
	} `json:"wechat,omitempty"`
	Host *struct {
		SecretSet bool `json:"secret_set"`
	} `json:"host,omitempty"`
	MatchRules    []string `json:"match_rules"`
	OnNoMatch     string   `json:"on_no_match"`
	AccountSource struct {
		Mode      string `json:"mode"`
		URL       string `json:"url,omitempty"`
		SecretSet *bool  `json:"secret_set,omitempty"`
	} `json:"account_source"`
	FieldMapping map[string]string `json:"field_mapping"`
	QR           *struct {
		Mode string `json:"mode"`
		Page string `json:"page"`
	} `json:"qr,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

func viewApp(a projections.App) appView {
	v := appView{ID: a.ID, Name: a.Name, Kind: a.Kind, MatchRules: a.MatchRules, OnNoMatch: a.OnNoMatch, FieldMapping: a.FieldMapping}
	switch a.Kind {
	case events.AppKindWeChat:
		v.WeChat = &struct {
			AppID     string `json:"appid"`
			SecretSet bool   `json:"secret_set"`
		}{a.WeChatAppID, a.SecretSealed != ""}
	case events.AppKindHost:
		v.Host = &struct {
			SecretSet bool `json:"secret_set"`
		}{a.SecretSealed != ""}
	}
	v.AccountSource.Mode, v.AccountSource.URL = a.AccountSource.Mode, a.AccountSource.URL
	if a.AccountSource.Mode == app.SourceVerify {
		set := a.AccountSource.SecretSealed != ""
		v.AccountSource.SecretSet = &set
	}
	if v.FieldMapping == nil {
		v.FieldMapping = map[string]string{}
	}
	if a.QR.Mode != "" {
		v.QR = &struct {
			Mode string `json:"mode"`
			Page string `json:"page"`
		}{a.QR.Mode, a.QR.Page}
	}
	if !a.CreatedAt.IsZero() {
		v.CreatedAt, v.UpdatedAt = &a.CreatedAt, &a.UpdatedAt
	}
	return v
}

func (s *Server) putApp(c echo.Context) error {
	id := c.Param("app")
	if err := app.CheckID(id); err != nil {
		return err
	}
	var req appRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.ID != "" && req.ID != id {
		return domain.Invalid("id: differs from the path")
	}
	in := apps.Put{Config: app.Config{
		Name: req.Name, Kind: req.Kind, MatchRules: req.MatchRules, OnNoMatch: req.OnNoMatch, FieldMapping: req.FieldMapping,
	}}
	switch req.Kind {
	case events.AppKindWeChat:
		if req.WeChat == nil {
			return domain.Invalid("wechat: required with kind wechat ({\"appid\", \"secret\"})")
		}
		if req.Host != nil {
			return domain.Invalid("host: only with kind host")
		}
		in.Config.WeChatAppID, in.Secret = req.WeChat.AppID, req.WeChat.Secret
	case events.AppKindHost:
		if req.WeChat != nil {
			return domain.Invalid("wechat: only with kind wechat")
		}
		if req.Host != nil {
			in.Secret = req.Host.Secret
		}
	}
	if req.AccountSource != nil {
		if req.AccountSource.Mode == "" {
			return domain.Invalid("account_source.mode: local or verify")
		}
		in.Config.SourceMode, in.Config.SourceURL, in.VerifySecret = req.AccountSource.Mode, req.AccountSource.URL, req.AccountSource.Secret
	}
	if req.QR != nil {
		if req.QR.Mode == "" {
			return domain.Invalid("qr.mode: link or wxacode")
		}
		in.Config.QRMode, in.Config.QRPage = req.QR.Mode, req.QR.Page
	}
	created, a, pos, err := s.Apps.Put(c.Request().Context(), s.adminMeta(c), id, in)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Response().Header().Set(echo.HeaderLocation, "/v1/apps/"+id)
	}
	// The answer is the app as stored (without timestamps, which the
	// view assigns from the event).
	return s.settledJSON(c, status, pos, viewApp(a))
}

func (s *Server) getApp(c echo.Context) error {
	a, err := s.Apps.Get(c.Request().Context(), c.Param("app"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewApp(a))
}
