package handlers

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

func (s *Server) sessionRoutes(e *echo.Echo) {
	if s.Signer != nil {
		if s.OIDC != nil {
			e.GET("/.well-known/openid-configuration", s.discovery)
		}
		e.GET("/.well-known/jwks.json", s.jwks)
		if s.AccountsV != nil {
			e.GET("/v1/userinfo", s.userinfoEndpoint, s.publicLimit)
			e.POST("/v1/userinfo", s.userinfoEndpoint, s.publicLimit) // OIDC Core 5.3.1: GET and POST
		}
	}
	if s.Sessions != nil {
		e.POST("/v1/sessions/refresh", s.refreshSession, s.publicLimit)
		e.POST("/v1/sessions/revoke", s.revokeSession, s.publicLimit)
		e.POST("/oauth2/token", s.oauthToken, s.publicLimit)
	}
}

// noStore keeps tokens out of caches (RFC 6749 §5.1).
func noStore(c echo.Context) {
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set("Pragma", "no-cache")
}

type sessionTokenRequest struct {
	SessionToken string `json:"session_token"`
}

func (s *Server) sessionToken(c echo.Context) (string, error) {
	var req sessionTokenRequest
	if err := bind(c, &req); err != nil {
		return "", err
	}
	if req.SessionToken == "" {
		return "", validationf("session_token: required")
	}
	return req.SessionToken, nil
}

func (s *Server) refreshSession(c echo.Context) error {
	noStore(c)
	tok, err := s.sessionToken(c)
	if err != nil {
		return err
	}
	out, pos, err := s.Sessions.Refresh(c.Request().Context(), s.meta(c, ""), tok)
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusOK, pos, out)
}

func (s *Server) revokeSession(c echo.Context) error {
	tok, err := s.sessionToken(c)
	if err != nil {
		return err
	}
	pos, err := s.Sessions.Revoke(c.Request().Context(), s.meta(c, ""), tok)
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusNoContent, pos, nil)
}

// oauthError answers the token endpoint's errors as RFC 6749 §5.2 says:
// JSON {error, error_description} with 400.
func oauthError(c echo.Context, code, description string) error {
	return c.JSON(http.StatusBadRequest, map[string]string{"error": code, "error_description": description})
}

// oauthToken is the OAuth 2.0 token endpoint for standard clients: only the
// refresh_token grant (RFC 6749 §6), for public clients (no secret; a
// client_id, in the form or as the Basic user name, must be the app the
// session was issued for). It alone answers OAuth's error format; a rate
// limit, an oversized body and server failures stay problem+json.
func (s *Server) oauthToken(c echo.Context) error {
	noStore(c)
	req := c.Request()
	mt, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationForm {
		return oauthError(c, "invalid_request", "send the parameters as application/x-www-form-urlencoded")
	}
	if err := req.ParseForm(); err != nil {
		if isTooLarge(err) {
			return decodeError(err)
		}
		return oauthError(c, "invalid_request", "the form body does not parse")
	}
	form := req.PostForm
	for name, vals := range form {
		if len(vals) > 1 {
			return oauthError(c, "invalid_request", "parameter "+name+" is repeated")
		}
	}
	if s.OIDC != nil && s.oidcToken(c) {
		return echo.WrapHandler(s.OIDC.Handler())(c)
	}
	switch gt := form.Get("grant_type"); gt {
	case "refresh_token":
	case "":
		return oauthError(c, "invalid_request", "grant_type is required")
	default:
		return oauthError(c, "unsupported_grant_type", "only grant_type=refresh_token is supported")
	}
	rt := form.Get("refresh_token")
	if rt == "" {
		return oauthError(c, "invalid_request", "refresh_token is required")
	}
	client := form.Get("client_id")
	if user, _, ok := req.BasicAuth(); ok {
		// RFC 6749 §2.3.1: the Basic credentials are form-urlencoded.
		u, err := url.QueryUnescape(user)
		if err != nil || (client != "" && client != u) {
			return oauthError(c, "invalid_request", "client_id in the form and in Authorization differ")
		}
		client = u
	}
	out, pos, err := s.Sessions.RefreshFor(req.Context(), s.meta(c, ""), rt, client)
	if err != nil {
		var de *domain.Error
		if errors.As(err, &de) && (de.Kind == domain.KindUnauthorized || de.Kind == domain.KindForbidden || de.Kind == domain.KindValidation) {
			return oauthError(c, "invalid_grant", de.Message)
		}
		return err
	}
	return commandJSON(c, http.StatusOK, pos, map[string]any{
		"access_token":  out.IDToken,
		"id_token":      out.IDToken,
		"refresh_token": out.SessionToken,
		"token_type":    out.TokenType,
		"expires_in":    out.ExpiresIn,
	})
}

// discovery is the one OpenID Provider configuration document: the
// library's (internal/adapters/oidcop), naming every endpoint; its keys are
// the Signer's, published by jwks.
func (s *Server) discovery(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=3600")
	return c.JSON(http.StatusOK, s.OIDC.Discovery(c.Request().Context()))
}

// userinfoEndpoint answers a web app's access token through the OpenID
// Provider and a mini-program id_token as the session API does.
func (s *Server) userinfoEndpoint(c echo.Context) error {
	if s.OIDC != nil && oidcAccessToken(c) {
		return echo.WrapHandler(s.OIDC.Handler())(c)
	}
	return s.user(s.userinfo)(c)
}

func (s *Server) jwks(c echo.Context) error {
	// Short: a rotated-in key must reach verifiers well within the overlap.
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=300")
	return c.JSON(http.StatusOK, s.Signer.JWKS())
}

// userinfo answers the OIDC claims of the bearer's account as they are now.
func (s *Server) userinfo(c echo.Context) error {
	u := currentUser(c)
	acc, ok := s.AccountsV.Get(u.AccountID)
	if !ok {
		return invalidToken(c, "the token's account does not exist")
	}
	if err := account.Blocked(acc.Status); err != nil {
		return err
	}
	out := map[string]any{"sub": acc.ID, "updated_at": acc.UpdatedAt.Unix()}
	opt := func(name, v string) {
		if v != "" {
			out[name] = v
		}
	}
	opt("name", acc.DisplayName)
	opt("preferred_username", acc.Username)
	opt("picture", acc.AvatarURL)
	opt("phone_number", acc.Phone)
	opt("email", acc.Email)
	var roles []string
	for _, g := range acc.Roles {
		if g.Org != "" {
			roles = append(roles, g.Role+"@"+g.Org)
		} else {
			roles = append(roles, g.Role)
		}
	}
	if len(roles) > 0 {
		out["roles"] = roles
	}
	if len(acc.Orgs) > 0 {
		out["orgs"] = acc.Orgs
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, out)
}

// UserClaims is who a verified id_token speaks for.
type UserClaims struct {
	AccountID string    // sub
	App       string    // aud: the app the user logged in to
	SessionID string    // sid: the session family
	AuthTime  time.Time // when the user logged in
}

const userKey = "bindery.user"

// currentUser is the user the user middleware verified; zero outside it.
func currentUser(c echo.Context) UserClaims {
	u, _ := c.Get(userKey).(UserClaims)
	return u
}

// invalidToken is the 401 of a bearer id_token that does not verify, with
// the RFC 6750 challenge.
func invalidToken(c echo.Context, detail string) error {
	c.Response().Header().Set("WWW-Authenticate", `Bearer realm="bindery", error="invalid_token"`)
	return domain.New(domain.KindUnauthorized, "invalid_token", "%s", detail)
}

// user lets a request through only with a valid id_token of any app as
// bearer (a logged-in mini-program user); currentUser then says who. The
// signature, iss and exp are not enough: the token's session must still be
// live (not logged out, not revoked by reuse detection) and its account
// still active, decided on the store, so that the id_token of an ended
// session can neither read userinfo nor scan and confirm a QR login (which
// would mint a fresh session).
func (s *Server) user(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, ok := bearer(c)
		if !ok {
			return domain.New(domain.KindUnauthorized, "unauthorized", "an id_token is required as bearer token")
		}
		if s.Signer == nil {
			return invalidToken(c, "id_tokens are not accepted here")
		}
		claims, err := s.verifyIDToken(c.Request().Context(), tok)
		if err != nil {
			if errors.Is(err, tokens.ErrExpired) {
				return invalidToken(c, "the id_token expired; refresh the session")
			}
			return invalidToken(c, "the id_token is not valid")
		}
		u, ok := userClaims(claims)
		if !ok {
			return invalidToken(c, "the id_token lacks sub, aud or sid")
		}
		if s.Sessions != nil {
			switch err := s.Sessions.Live(c.Request().Context(), u.SessionID, u.AccountID); {
			case account.IsBlocked(err):
				return err
			case errors.Is(err, session.ErrInvalid), errors.Is(err, account.ErrNotFound):
				s.log.Warn("bearer id_token of an ended session refused", append([]any{"sid", u.SessionID, "request_id", c.Response().Header().Get(echo.HeaderXRequestID)}, s.peerFields(c)...)...)
				return invalidToken(c, "the id_token's session has ended; log in again")
			case err != nil:
				return err
			}
		}
		c.Set(userKey, u)
		return next(c)
	}
}

// keyRefresh rate-limits reloading the key set for tokens with an unknown
// kid, so that forged kids cannot turn into a load on the key store.
type keyRefresh struct {
	mu   sync.Mutex
	last time.Time
}

// verifyIDToken verifies for any audience; a kid it does not know may be a
// key another replica just rotated in, so it reloads the keys (at most once
// a second) and tries again.
func (s *Server) verifyIDToken(ctx context.Context, tok string) (map[string]any, error) {
	return s.verifyWith(ctx, tok, s.Signer.Verify)
}

// verifyAccessToken is verifyIDToken for a web app's access token (RFC
// 9068, typ at+jwt).
func (s *Server) verifyAccessToken(ctx context.Context, tok string) (map[string]any, error) {
	return s.verifyWith(ctx, tok, s.Signer.VerifyAccessToken)
}

func (s *Server) verifyWith(ctx context.Context, tok string, verify func(string, string, time.Time) (map[string]any, error)) (map[string]any, error) {
	claims, err := verify(tok, "", s.Now())
	if !errors.Is(err, tokens.ErrUnknownKey) {
		return claims, err
	}
	s.keys.mu.Lock()
	due := time.Since(s.keys.last) >= time.Second
	if due {
		s.keys.last = time.Now()
	}
	s.keys.mu.Unlock()
	if !due {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if rerr := s.Signer.Refresh(ctx); rerr != nil {
		s.log.Warn("signing keys refresh", "err", rerr)
		return nil, err
	}
	return verify(tok, "", s.Now())
}

func userClaims(c map[string]any) (UserClaims, bool) {
	var u UserClaims
	if _, web := c["client_id"]; web {
		return u, false // a web app's access token is no mini-program user's token
	}
	if _, web := c["azp"]; web {
		return u, false // nor is a web app's id_token
	}
	u.AccountID, _ = c["sub"].(string)
	u.SessionID, _ = c["sid"].(string)
	switch aud := c["aud"].(type) {
	case string:
		u.App = aud
	case []any:
		if len(aud) == 1 {
			u.App, _ = aud[0].(string)
		}
	}
	if at, ok := c["auth_time"].(float64); ok {
		u.AuthTime = time.Unix(int64(at), 0).UTC()
	}
	return u, u.AccountID != "" && u.App != "" && u.SessionID != ""
}
