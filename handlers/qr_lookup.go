package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/bindery/bindery/domain"
)

// Failed user-code lookups a client address may make: a burst of
// lookupFailBurst, then one per lookupFailEvery. Guessing one of the
// 20^8 codes at that pace is hopeless within a code's lifetime.
const (
	lookupFailBurst = 10
	lookupFailEvery = 6 * time.Second
)

func newLookupFailLimiter(d Deps) *ipLimiter {
	return newLimiter(rate.Every(lookupFailEvery), lookupFailBurst, d.TrustedProxies)
}

// deviceRoutes registers the device flow's routes for people and the mini
// program: the page a device's verification_uri names, and the lookup of
// a typed user code.
func (s *Server) deviceRoutes(e *echo.Echo) {
	if s.Devices == nil {
		return
	}
	e.GET("/device", s.devicePage, s.publicLimit)
	e.POST("/v1/qr/lookup", s.lookupUserCode, s.publicLimit, s.user)
}

func (s *Server) devicePage(c echo.Context) error {
	return renderPage(c, http.StatusOK, "device.html", nil)
}

type lookupBody struct {
	UserCode string `json:"user_code"`
}

// lookupUserCode answers the QR id of the device waiting with the typed
// user code, for a signed-in mini-program user, who then scans and
// confirms it. Failed lookups are limited per client address.
func (s *Server) lookupUserCode(c echo.Context) error {
	u := currentUser(c)
	if u.AccountID == "" {
		return domain.New(domain.KindUnauthorized, "unauthorized", "an id_token is required as bearer token")
	}
	now := time.Now()
	if wait, ok := s.lookupFails.left(c.Request(), now); !ok {
		return &domain.Error{
			Kind: domain.KindRateLimited, Code: "rate_limited", RetryAfter: wait,
			Message: "too many unknown codes from this address; retry later",
		}
	}
	var body lookupBody
	if err := bind(c, &body); err != nil {
		return err
	}
	if body.UserCode == "" {
		return domain.Invalid("user_code is required")
	}
	id, err := s.Devices.Lookup(body.UserCode)
	if err != nil {
		s.lookupFails.allow(c.Request(), now)
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, map[string]string{"qr_id": id})
}
