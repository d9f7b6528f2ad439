package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"

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
	e.POST("/v1/authz/checks", s.authzChecks, s.admin)
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
	if id, ok := canonicalID(req.AccountID); ok {
		req.AccountID = id // other forms: the use case says what is wrong
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
	if err := validCheck("", &req.AccountID, req.Permission, req.Org); err != nil {
		return err
	}
	if err := s.waitForCheck(c, req.MinPosition); err != nil {
		return err
	}
	body := allowedFalse
	if s.AuthzV.Allowed(req.AccountID, req.Permission, req.Org) {
		body = allowedTrue
	}
	return c.JSONBlob(http.StatusOK, body)
}

// validCheck checks one check's fields; prefix names it within a batch.
// The account id is canonicalised in place.
func validCheck(prefix string, accountID *string, permission, orgID string) error {
	id, ok := canonicalID(*accountID)
	if !ok {
		return domain.Invalid("%saccount_id: required, a UUID", prefix)
	}
	*accountID = id
	if !role.ValidCheck(permission) {
		return domain.Invalid("%spermission: a concrete resource:action (lower-case a-z 0-9 _ . -), no wildcard", prefix)
	}
	if orgID != "" && !org.ValidID(orgID) {
		return org.ValidateID(prefix+"org", orgID)
	}
	return nil
}

// waitForCheck waits until the authz view reached the position the client
// names: in the body, else ?min_position=, else the X-Bindery-Position
// header (the GET-only middleware does not cover these POSTs).
func (s *Server) waitForCheck(c echo.Context, tok string) error {
	if tok == "" {
		tok = c.QueryParam("min_position")
	}
	if tok == "" {
		tok = c.Request().Header.Get(PositionHeader)
	}
	if tok == "" || s.Engine == nil {
		return nil
	}
	pos, err := events.ParsePosition(tok)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.WaitTimeout)
	defer cancel()
	return s.Engine.WaitFor(ctx, pos)
}

// MaxBatchChecks bounds one POST /v1/authz/checks.
const MaxBatchChecks = 1000

type batchCheck struct {
	AccountID  string `json:"account_id"`
	Permission string `json:"permission"`
	Org        string `json:"org"`
}

type batchRequest struct {
	Checks      []batchCheck `json:"checks"`
	MinPosition string       `json:"min_position"`
}

// authzChecks answers up to MaxBatchChecks checks in one request, in order
// ({"allowed": [true, false, …]}): a page that shows or hides twenty
// buttons asks once. Every check is validated before any is answered.
func (s *Server) authzChecks(c echo.Context) error {
	var req batchRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if len(req.Checks) == 0 || len(req.Checks) > MaxBatchChecks {
		return domain.Invalid("checks: 1 to %d checks", MaxBatchChecks)
	}
	for i := range req.Checks {
		ch := &req.Checks[i]
		if err := validCheck("checks["+strconv.Itoa(i)+"].", &ch.AccountID, ch.Permission, ch.Org); err != nil {
			return err
		}
	}
	if err := s.waitForCheck(c, req.MinPosition); err != nil {
		return err
	}
	out := make([]byte, 0, 13+6*len(req.Checks))
	out = append(out, `{"allowed":[`...)
	for i, ch := range req.Checks {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendBool(out, s.AuthzV.Allowed(ch.AccountID, ch.Permission, ch.Org))
	}
	out = append(out, "]}"...)
	return c.JSONBlob(http.StatusOK, out)
}

// canonicalUUID accepts the lower-case 8-4-4-4-12 form account ids have,
// without allocating.
func canonicalUUID(s string) bool {
	_, upper, ok := scanUUID(s)
	return ok && !upper
}

// canonicalID accepts a UUID in any case and returns its canonical
// lower-case form (allocating only when it was not).
func canonicalID(s string) (string, bool) {
	_, upper, ok := scanUUID(s)
	if !ok {
		return "", false
	}
	if upper {
		s = strings.ToLower(s)
	}
	return s, true
}

// scanUUID checks the 8-4-4-4-12 hex form and says whether it has
// upper-case digits.
func scanUUID(s string) (n int, upper, ok bool) {
	if len(s) != 36 {
		return 0, false, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return 0, false, false
			}
		default:
			switch {
			case c >= '0' && c <= '9' || c >= 'a' && c <= 'f':
			case c >= 'A' && c <= 'F':
				upper = true
			default:
				return 0, false, false
			}
		}
	}
	return 36, upper, true
}
