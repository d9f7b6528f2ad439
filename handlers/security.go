package handlers

import (
	"github.com/labstack/echo/v4"
)

// securityCodes are the problem codes that are security events: failed
// authentication, detected reuse of a session or a one-time code,
// lockouts and throttling, and forged or tampered input. Each is logged at
// WARN with the client's address, user agent and request id.
var securityCodes = map[string]bool{
	"unauthorized":        true, // a missing or wrong admin token
	"invalid_token":       true, // an id_token or access token that does not verify
	"invalid_session":     true,
	"session_reused":      true, // a rotated session token came back: the family is revoked
	"invalid_credentials": true,
	"invalid_grant":       true,
	"invalid_code":        true, // a login code that does not verify (forged host code)
	"code_used":           true, // a login code replayed
	"invalid_otp":         true,
	"too_many_attempts":   true, // a lockout
	"rate_limited":        true,
	"poll_token_invalid":  true,
	"qr_not_scanner":      true,
	"bad_signature":       true,
	"user_blocked":        true,
}

// userAgent is the request's User-Agent, cut to a sane length for logs.
func userAgent(c echo.Context) string {
	ua := c.Request().UserAgent()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	return ua
}

// clientAddr is the client's address as the rate limits see it (the peer,
// or what trusted proxies say).
func (s *Server) clientAddr(c echo.Context) string {
	a := clientIP(c.Request(), s.TrustedProxies)
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// securityEvent logs a security event at WARN: what happened (event), on
// which route, from where and by what client.
func (s *Server) securityEvent(c echo.Context, event string, status int) {
	route := c.Path()
	if route == "" {
		route = "unmatched"
	}
	s.log.Warn("security", append([]any{"event", event, "status", status, "method", c.Request().Method, "route", route,
		"request_id", c.Response().Header().Get(echo.HeaderXRequestID)}, s.peerFields(c)...)...)
}
