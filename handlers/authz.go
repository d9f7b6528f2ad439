package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/org"
	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
)

// authzRoutes are roles, grants, organisations and authorization checks
// (docs/authz.md), all admin.
func (s *Server) authzRoutes(e *echo.Echo) {
	if s.Authz == nil || s.AuthzV == nil {
		return
	}
	e.PUT("/v1/roles/:name", s.putRole, s.admin)
	e.GET("/v1/roles/:name", s.getRole, s.admin)
	e.POST("/v1/accounts/:id/roles", s.grantRole, s.admin)
	e.DELETE("/v1/accounts/:id/roles/:role", s.revokeRole, s.admin)
	e.PUT("/v1/orgs/:id", s.putOrg, s.admin)
	e.GET("/v1/orgs/:id", s.getOrg, s.admin)
	e.POST("/v1/orgs/:id/members", s.addMember, s.admin)
	e.DELETE("/v1/orgs/:id/members/:account", s.removeMember, s.admin)
	e.POST("/v1/authz/check", s.authzCheck, s.admin)
}

type roleRequest struct {
	Permissions []string `json:"permissions"`
}

type roleBody struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
}

// created is 201 for a new resource, 200 for an existing one.
func created(isNew bool) int {
	if isNew {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (s *Server) putRole(c echo.Context) error {
	var req roleRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	name := c.Param("name")
	isNew, perms, pos, err := s.Authz.DefineRole(c.Request().Context(), s.adminMeta(c), name, req.Permissions)
	if err != nil {
		return err
	}
	return commandJSON(c, created(isNew), pos, roleBody{Name: name, Permissions: perms})
}

func (s *Server) getRole(c echo.Context) error {
	r, ok := s.AuthzV.Role(c.Param("name"))
	if !ok {
		return role.ErrNotFound
	}
	return c.JSON(http.StatusOK, r)
}

type grantRequest struct {
	Role string `json:"role"`
	Org  string `json:"org"`
}

type grantBody struct {
	AccountID string `json:"account_id"`
	Role      string `json:"role"`
	Org       string `json:"org,omitempty"`
}

func (s *Server) grantRole(c echo.Context) error {
	id, err := accountID(c, "id")
	if err != nil {
		return err
	}
	var req grantRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Role == "" {
		return domain.Invalid("role: required")
	}
	isNew, pos, err := s.Authz.Grant(c.Request().Context(), s.adminMeta(c), id, role.Grant{Role: req.Role, Org: req.Org})
	if err != nil {
		return err
	}
	return commandJSON(c, created(isNew), pos, grantBody{AccountID: id, Role: req.Role, Org: req.Org})
}

func (s *Server) revokeRole(c echo.Context) error {
	id, err := accountID(c, "id")
	if err != nil {
		return err
	}
	for k := range c.QueryParams() {
		if k != "org" {
			return domain.Invalid("unknown query parameter %q (only org)", k)
		}
	}
	pos, err := s.Authz.Revoke(c.Request().Context(), s.adminMeta(c), id, role.Grant{Role: c.Param("role"), Org: c.QueryParam("org")})
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusNoContent, pos, nil)
}

type orgRequest struct {
	Name   string `json:"name"`
	Parent string `json:"parent"`
}

type orgBody struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Parent string `json:"parent,omitempty"`
}

func (s *Server) putOrg(c echo.Context) error {
	var req orgRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	id := c.Param("id")
	isNew, pos, err := s.Authz.DefineOrg(c.Request().Context(), s.adminMeta(c), id, req.Name, req.Parent)
	if err != nil {
		return err
	}
	return commandJSON(c, created(isNew), pos, orgBody{ID: id, Name: req.Name, Parent: req.Parent})
}

func (s *Server) getOrg(c echo.Context) error {
	o, ok := s.AuthzV.Org(c.Param("id"))
	if !ok {
		return org.ErrNotFound
	}
	return c.JSON(http.StatusOK, o)
}

type memberRequest struct {
	AccountID string `json:"account_id"`
}

type memberBody struct {
	OrgID     string `json:"org_id"`
	AccountID string `json:"account_id"`
}

func (s *Server) addMember(c echo.Context) error {
	var req memberRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	orgID := c.Param("id")
	isNew, pos, err := s.Authz.AddMember(c.Request().Context(), s.adminMeta(c), orgID, req.AccountID)
	if err != nil {
		return err
	}
	return commandJSON(c, created(isNew), pos, memberBody{OrgID: orgID, AccountID: req.AccountID})
}

func (s *Server) removeMember(c echo.Context) error {
	acc, err := accountID(c, "account")
	if err != nil {
		return err
	}
	pos, err := s.Authz.RemoveMember(c.Request().Context(), s.adminMeta(c), c.Param("id"), acc)
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusNoContent, pos, nil)
}

type checkRequest struct {
	AccountID   string `json:"account_id"`
	Permission  string `json:"permission"`
	Org         string `json:"org"`
	MinPosition string `json:"min_position"`
}

// The two possible answers of a check, encoded once.
var (
	allowedTrue  = []byte(`{"allowed":true}`)
	allowedFalse = []byte(`{"allowed":false}`)
)

// authzCheck answers from the authz view. A check reads its own writes:
// min_position (body, query or X-Bindery-Position header) makes it wait
// until the view reached the position of the grant or revocation — the
// GET-only middleware does not cover this POST.
func (s *Server) authzCheck(c echo.Context) error {
	var req checkRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if !canonicalUUID(req.AccountID) {
		return domain.Invalid("account_id: required, a UUID")
	}
	if !role.ValidCheck(req.Permission) {
		_, err := role.ParseCheck(req.Permission)
		return err
	}
	if req.Org != "" && !org.ValidID(req.Org) {
		return org.ValidateID("org", req.Org)
	}
	tok := req.MinPosition
	if tok == "" {
		tok = c.QueryParam("min_position")
	}
	if tok == "" {
		tok = c.Request().Header.Get(PositionHeader)
	}
	if tok != "" && s.Engine != nil {
		pos, err := events.ParsePosition(tok)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.WaitTimeout)
		defer cancel()
		if err := s.Engine.WaitFor(ctx, pos); err != nil {
			return err
		}
	}
	body := allowedFalse
	if s.AuthzV.Allowed(req.AccountID, req.Permission, req.Org) {
		body = allowedTrue
	}
	return c.JSONBlob(http.StatusOK, body)
}

// canonicalUUID accepts the lower-case 8-4-4-4-12 form account ids have,
// without allocating.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
