package handlers

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/projections"
)

// Search limits of GET /v1/accounts.
const (
	defaultSearchLimit = 50
	maxSearchLimit     = 500
)

// cursorPrefix versions the opaque paging cursor: base64url of the prefix
// and the last account id of the page (accounts come in id order, so a
// page after it misses no account that existed when paging began).
const cursorPrefix = "a1:"

func encodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + id))
}

func decodeCursor(s string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	id, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if err != nil || !ok || !canonicalUUID(id) {
		return "", domain.Invalid("after: not a cursor this API gave out (pass the next value of the previous page)")
	}
	return id, nil
}

// AccountSearch parses the search parameters of GET /v1/accounts (shared
// with the console, which calls the same query).
func AccountSearch(get func(string) string) (projections.AccountQuery, error) {
	q := projections.AccountQuery{
		Q: strings.TrimSpace(get("q")), Status: get("status"),
		App: get("app"), Org: get("org"), Role: get("role"), Limit: defaultSearchLimit,
	}
	if len(q.Q) > 256 {
		return q, domain.Invalid("q: at most 256 bytes")
	}
	switch q.Status {
	case "", account.StatusActive, account.StatusDisabled, account.StatusErased:
	default:
		return q, domain.Invalid("status: active, disabled or erased")
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxSearchLimit {
			return q, domain.Invalid("limit: a whole number from 1 to %d", maxSearchLimit)
		}
		q.Limit = n
	}
	if v := get("after"); v != "" {
		id, err := decodeCursor(v)
		if err != nil {
			return q, err
		}
		q.After = id
	}
	if q.Q != "" {
		// A phone number is found in E.164; digits typed without the "+"
		// are tried with it (8613800138000).
		if p, err := account.NormalizePhone(q.Q); err == nil {
			q.Phone = p
		} else if p, err := account.NormalizePhone("+" + q.Q); err == nil {
			q.Phone = p
		}
	}
	return q, nil
}

// SearchAccounts runs a search and answers the page and the cursor of the
// next one ("" at the end).
func SearchAccounts(v *projections.Accounts, q projections.AccountQuery) ([]projections.Account, string) {
	page, more := v.Search(q)
	next := ""
	if more && len(page) > 0 {
		next = encodeCursor(page[len(page)-1].ID)
	}
	return page, next
}

type accountPage struct {
	Accounts []projections.Account `json:"accounts"`
	Next     string                `json:"next,omitempty"`
}

func (s *Server) searchAccounts(c echo.Context) error {
	q, err := AccountSearch(c.QueryParam)
	if err != nil {
		return err
	}
	page, next := SearchAccounts(s.AccountsV, q)
	return c.JSON(http.StatusOK, accountPage{Accounts: page, Next: next})
}
