package handlers

import (
	"context"
	"errors"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/internal/app/authz"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// AdminAccessTokens says whether a web app's access token (its jti, for
// subject, issued to clientID) still speaks for its account
// (appoidc.AccessTokens).
type AdminAccessTokens interface {
	Active(ctx context.Context, tokenID, subject, clientID string) error
}

// adminActorKey holds the actor of a request the admin API let in with an
// administrator's access token (account:<id>).
const adminActorKey = "bindery.admin_actor"

// adminByAccessToken lets an administrator in by the access token the
// OpenID Provider issued to the admin client (the console): it must
// verify, its sign-in must still be live (decided on the store), and its
// account must be active and hold bindery:admin. The events of the
// request then name that account as their actor. Tokens of other web
// apps are refused: an administrator signing in to a wiki must not hand
// the wiki the admin API.
func (s *Server) adminByAccessToken(c echo.Context, tok string, next echo.HandlerFunc) error {
	ctx := c.Request().Context()
	claims, err := s.verifyAccessToken(ctx, tok)
	if err != nil {
		s.adminFails.allow(c.Request(), s.Now())
		if errors.Is(err, tokens.ErrExpired) {
			return invalidToken(c, "the access token expired; sign in again")
		}
		return invalidToken(c, "the access token is not valid")
	}
	clientID, _ := claims["client_id"].(string)
	sub, _ := claims["sub"].(string)
	jti, _ := claims["jti"].(string)
	if clientID == "" || clientID != s.AdminClient {
		s.adminFails.allow(c.Request(), s.Now())
		return invalidToken(c, "this access token was not issued for the admin API (only the console's are)")
	}
	if err := s.AdminAccess.Active(ctx, jti, sub, clientID); err != nil {
		var de *domain.Error
		if errors.As(err, &de) && de.Kind == domain.KindUnauthorized {
			s.log.Warn("admin access token of an ended sign-in refused", "ip", s.clientAddr(c), "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
			return invalidToken(c, de.Message)
		}
		return err
	}
	acc, ok := s.AccountsV.Get(sub)
	switch {
	case !ok:
		return invalidToken(c, "the access token's account does not exist")
	case account.Blocked(acc.Status) != nil:
		return account.Blocked(acc.Status)
	case s.AuthzV == nil || !s.AuthzV.Allowed(sub, authz.AdminPermission, ""):
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="bindery", error="insufficient_scope"`)
		return authz.ErrNotAdmin
	}
	c.Set(adminActorKey, "account:"+sub)
	return next(c)
}
