package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/accounts"
)

func (s *Server) accountRoutes(e *echo.Echo) {
	if s.Accounts == nil {
		return
	}
	e.POST("/v1/accounts", s.createAccount, s.admin)
	e.GET("/v1/accounts", s.lookupAccounts, s.admin)
	e.GET("/v1/accounts/:id", s.getAccount, s.admin)
	e.PATCH("/v1/accounts/:id", s.updateAccount, s.admin)
	e.DELETE("/v1/accounts/:id", s.disableAccount, s.admin) // alias of POST …/disable
	e.POST("/v1/accounts/:id/disable", s.disableAccount, s.admin)
	e.POST("/v1/accounts/:id/enable", s.enableAccount, s.admin)
	e.POST("/v1/accounts/:id/erase", s.eraseAccount, s.admin)
	if s.Sessions != nil {
		e.DELETE("/v1/accounts/:id/sessions/:session", s.revokeAccountSession, s.admin)
	}
}

type accountRequest struct {
	Username    string         `json:"username"`
	Password    string         `json:"password"`
	DisplayName string         `json:"display_name"`
	AvatarURL   string         `json:"avatar_url"`
	Phone       string         `json:"phone"`
	Email       string         `json:"email"`
	ExternalID  string         `json:"external_id"`
	Attributes  map[string]any `json:"attributes"`
}

func (s *Server) createAccount(c echo.Context) error {
	var req accountRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	id, pos, err := s.Accounts.Create(c.Request().Context(), s.adminMeta(c), accounts.Create{
		Profile: account.Profile{
			ExternalID: req.ExternalID, Username: req.Username, DisplayName: req.DisplayName,
			AvatarURL: req.AvatarURL, Phone: req.Phone, Email: req.Email, Attributes: req.Attributes,
		},
		Password: req.Password,
		Source:   "admin",
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/accounts/"+id)
	return commandJSON(c, http.StatusCreated, pos, map[string]string{"id": id})
}

// accountID validates the path id: account ids are UUIDs (and become NATS
// subject tokens, so nothing else may pass), accepted in any case and
// canonicalised to lower case.
func accountID(c echo.Context, name string) (string, error) {
	id, ok := canonicalID(c.Param(name))
	if !ok {
		return "", account.ErrNotFound
	}
	return id, nil
}

func (s *Server) getAccount(c echo.Context) error {
	id, err := accountID(c, "id")
	if err != nil {
		return err
	}
	acc, ok := s.AccountsV.Get(id)
	if !ok {
		return account.ErrNotFound
	}
	return c.JSON(http.StatusOK, acc)
}

// lookupAccounts answers GET /v1/accounts: an exact lookup by a unique
// value (phone, email, username, external_id), or else a search with
// paging (accounts_search.go).
func (s *Server) lookupAccounts(c echo.Context) error {
	q := c.QueryParams()
	lookup, search := false, false
	for k := range q {
		switch k {
		case "phone", "email", "username", "external_id":
			lookup = true
		case "q", "status", "app", "org", "role", "limit", "after":
			search = true
		case "min_position":
		default:
			return domain.Invalid("unknown query parameter %q (use q, status, app, org, role, limit, after; or phone, email, username or external_id)", k)
		}
	}
	if lookup && search {
		return domain.Invalid("an exact lookup (phone, email, username, external_id) takes no search parameters (q, status, app, org, role, limit, after)")
	}
	if !lookup {
		return s.searchAccounts(c)
	}
	kinds := []struct{ param, kind string }{
		{"phone", events.ClaimPhone}, {"email", events.ClaimEmail},
		{"username", events.ClaimUsername}, {"external_id", events.ClaimExternalID},
	}
	var found []any
	asked := false
	for _, k := range kinds {
		v := c.QueryParam(k.param)
		if v == "" {
			continue
		}
		asked = true
		if k.kind == events.ClaimPhone {
			var err error
			if v, err = account.NormalizePhone(v); err != nil {
				return err
			}
		}
		id, ok := s.AccountsV.Lookup(k.kind, v)
		if !ok {
			return c.JSON(http.StatusOK, map[string]any{"accounts": []any{}})
		}
		acc, ok := s.AccountsV.Get(id)
		if !ok {
			return c.JSON(http.StatusOK, map[string]any{"accounts": []any{}})
		}
		if len(found) > 0 && found[0].(map[string]any)["id"] != acc.ID {
			// Several criteria name different accounts: none matches them all.
			return c.JSON(http.StatusOK, map[string]any{"accounts": []any{}})
		}
		found = []any{map[string]any{"id": acc.ID, "account": acc}}
	}
	if !asked {
		return domain.Invalid("name at least one of phone, email, username, external_id with a value")
	}
	out := []any{}
	for _, f := range found {
		out = append(out, f.(map[string]any)["account"])
	}
	return c.JSON(http.StatusOK, map[string]any{"accounts": out})
}

type accountPatch struct {
	Username    *string        `json:"username"`
	Password    *string        `json:"password"`
	DisplayName *string        `json:"display_name"`
	AvatarURL   *string        `json:"avatar_url"`
	Phone       *string        `json:"phone"`
	Email       *string        `json:"email"`
	ExternalID  *string        `json:"external_id"`
	Status      *string        `json:"status"`
	Attributes  map[string]any `json:"attributes"`
}

func (s *Server) updateAccount(c echo.Context) error {
	id, err := accountID(c, "id")
	if err != nil {
		return err
	}
	var req accountPatch
	if err := bind(c, &req); err != nil {
		return err
	}
	pos, err := s.Accounts.Update(c.Request().Context(), s.adminMeta(c), id, accounts.Update{
		ExternalID: req.ExternalID, Username: req.Username, DisplayName: req.DisplayName, AvatarURL: req.AvatarURL,
		Phone: req.Phone, Email: req.Email, Password: req.Password, Status: req.Status, Attributes: req.Attributes,
	})
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusOK, pos, map[string]string{"id": id})
}

// disableAccount answers POST /v1/accounts/{id}/disable and its alias
// DELETE /v1/accounts/{id}: the account stays, with its history.
func (s *Server) disableAccount(c echo.Context) error {
	id, err := accountID(c, "id")
	if err != nil {
		return err
	}
	if c.Request().Method == http.MethodPost {
		if err := noBody(c); err != nil {
			return err
		}
	}
	pos, err := s.Accounts.Disable(c.Request().Context(), s.adminMeta(c), id)
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusOK, pos, map[string]string{"id": id, "status": account.StatusDisabled})
}

func (s *Server) enableAccount(c echo.Context) error {
	id, err := accountID(c, "id")
	if err != nil {
		return err
	}
	if err := noBody(c); err != nil {
		return err
	}
	pos, err := s.Accounts.Enable(c.Request().Context(), s.adminMeta(c), id)
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusOK, pos, map[string]string{"id": id, "status": account.StatusActive})
}

// eraseAccount answers POST /v1/accounts/{id}/erase: the person is erased
// (crypto-shredding, SPEC §8), the account stays as a tombstone. Erasing an
// erased account answers the same, and finishes what an earlier attempt
// may have left undone.
func (s *Server) eraseAccount(c echo.Context) error {
	id, err := accountID(c, "id")
	if err != nil {
		return err
	}
	if err := noBody(c); err != nil {
		return err
	}
	pos, err := s.Accounts.Erase(c.Request().Context(), s.adminMeta(c), id)
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusOK, pos, map[string]string{"id": id, "status": account.StatusErased})
}

// revokeAccountSession ends one session family of the account (an
// administrator's logout of that device): 204, or 404 session_not_found.
func (s *Server) revokeAccountSession(c echo.Context) error {
	id, err := accountID(c, "id")
	if err != nil {
		return err
	}
	pos, err := s.Sessions.RevokeByID(c.Request().Context(), s.adminMeta(c), id, c.Param("session"))
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusNoContent, pos, nil)
}
