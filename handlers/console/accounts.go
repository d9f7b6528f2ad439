package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/handlers"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/projections"
)

type accountsData struct {
	Query    url.Values
	Accounts []projections.Account
	Next     string // the URL of the next page, "" at the end
	Error    string
}

// accounts is the search page: the same query as GET /v1/accounts.
func (c *Console) accounts(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	d := accountsData{Query: v}
	q, err := handlers.AccountSearch(v.Get)
	if err != nil {
		d.Error = message(err)
		c.render(w, r, http.StatusBadRequest, "accounts", page{Title: "Accounts", Nav: "accounts", Data: d})
		return
	}
	if q.Limit == 50 && v.Get("limit") == "" {
		q.Limit = 25
	}
	page1, next := handlers.SearchAccounts(c.AccountsV, q)
	d.Accounts = page1
	if next != "" {
		n := url.Values{}
		for k, vs := range v {
			n[k] = vs
		}
		n.Set("after", next)
		d.Next = "/console/accounts?" + n.Encode()
	}
	c.render(w, r, http.StatusOK, "accounts", page{Title: "Accounts", Nav: "accounts", Data: d})
}

// timelineEntry is one event of an account's history, as the audit query
// answers it.
type timelineEntry struct {
	Time   time.Time
	Type   string
	Actor  string
	Stream string
	Data   string
}

type accountData struct {
	Account  projections.Account
	Admin    bool
	Roles    []string // defined roles, for the grant form
	Timeline []timelineEntry
	More     bool
	Error    string
}

func (c *Console) lookup(w http.ResponseWriter, r *http.Request) (projections.Account, bool) {
	acc, ok := c.AccountsV.Get(strings.ToLower(r.PathValue("id")))
	if !ok {
		c.fail(w, r, http.StatusNotFound, "No such account", "There is no account "+r.PathValue("id")+".")
	}
	return acc, ok
}

// account is one account's page: profile, bindings, roles, orgs, status,
// and its own timeline from the audit query.
func (c *Console) account(w http.ResponseWriter, r *http.Request) {
	acc, ok := c.lookup(w, r)
	if !ok {
		return
	}
	d := accountData{Account: acc, Admin: c.AuthzV.Allowed(acc.ID, AdminPermission, ""), Roles: c.AuthzV.RoleNames()}
	d.Timeline, d.More, d.Error = c.timeline(r, acc.ID)
	c.render(w, r, http.StatusOK, "account", page{Title: nameOf(acc), Nav: "accounts", Notice: notice(r), Data: d})
}

const timelineLimit = 500

func (c *Console) timeline(r *http.Request, id string) ([]timelineEntry, bool, string) {
	if c.Audit == nil {
		return nil, false, "the audit log is not available on this server"
	}
	var out []timelineEntry
	res, err := c.Audit.Events(r.Context(), audit.Filter{Account: id, Limit: timelineLimit}, func(it audit.Item) error {
		var ev struct {
			Type  string          `json:"type"`
			Actor string          `json:"actor"`
			Data  json.RawMessage `json:"data"`
		}
		_ = json.Unmarshal(it.Raw, &ev)
		out = append(out, timelineEntry{Time: it.Time, Type: shortName(ev.Type), Actor: ev.Actor, Stream: it.Stream, Data: string(ev.Data)})
		return nil
	})
	if err != nil {
		return out, false, "the audit log could not be read: " + err.Error()
	}
	// Newest first: that is what an administrator looks for.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, res.More, ""
}

func nameOf(acc projections.Account) string {
	for _, s := range []string{acc.DisplayName, acc.Username, acc.Email, acc.Phone, acc.ExternalID} {
		if s != "" {
			return s
		}
	}
	return acc.ID
}

// confirmData is the confirmation step of a destructive action.
type confirmData struct {
	Account projections.Account
	Action  string // disable, enable, revoke
	Role    string
	Org     string
}

func (c *Console) confirmAccount(w http.ResponseWriter, r *http.Request) {
	acc, ok := c.lookup(w, r)
	if !ok {
		return
	}
	d := confirmData{Account: acc, Action: r.URL.Query().Get("action"), Role: r.URL.Query().Get("role"), Org: r.URL.Query().Get("org")}
	switch d.Action {
	case "disable", "enable", "revoke":
	default:
		c.fail(w, r, http.StatusBadRequest, "Unknown action", "Nothing to confirm.")
		return
	}
	c.render(w, r, http.StatusOK, "confirm", page{Title: "Confirm", Nav: "accounts", Data: d})
}

func (c *Console) disable(w http.ResponseWriter, r *http.Request) {
	c.command(w, r, "disabled", func(id string) (events.Position, error) {
		return c.Accounts.Disable(r.Context(), c.meta(w, r), id)
	})
}

func (c *Console) enable(w http.ResponseWriter, r *http.Request) {
	c.command(w, r, "enabled", func(id string) (events.Position, error) {
		return c.Accounts.Enable(r.Context(), c.meta(w, r), id)
	})
}

func (c *Console) grant(w http.ResponseWriter, r *http.Request) {
	c.command(w, r, "granted", func(id string) (events.Position, error) {
		_, pos, err := c.Grants.Grant(r.Context(), c.meta(w, r), id, role.Grant{Role: r.PostFormValue("role"), Org: r.PostFormValue("org")})
		return pos, err
	})
}

func (c *Console) revoke(w http.ResponseWriter, r *http.Request) {
	c.command(w, r, "revoked", func(id string) (events.Position, error) {
		return c.Grants.Revoke(r.Context(), c.meta(w, r), id, role.Grant{Role: r.PostFormValue("role"), Org: r.PostFormValue("org")})
	})
}

// command runs one account command and goes back to the account's page
// with a notice (post/redirect/get), waiting for the views to show it.
func (c *Console) command(w http.ResponseWriter, r *http.Request, done string, run func(id string) (events.Position, error)) {
	acc, ok := c.lookup(w, r)
	if !ok {
		return
	}
	pos, err := run(acc.ID)
	if err == nil {
		err = c.waitFor(r, pos)
	}
	if err != nil {
		status := http.StatusBadRequest
		var de *domain.Error
		if !errors.As(err, &de) {
			status = http.StatusServiceUnavailable
		}
		c.fail(w, r, status, "Not done", message(err))
		return
	}
	http.Redirect(w, r, "/console/accounts/"+acc.ID+"?done="+done, http.StatusSeeOther)
}

// waitFor lets the views reach a command's position, so that the page the
// browser is sent to next shows what was done.
func (c *Console) waitFor(r *http.Request, pos events.Position) error {
	if c.Engine == nil || pos.IsZero() {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	return c.Engine.WaitFor(ctx, pos)
}

// message is what a page says of an error: the problem's message, never
// an internal error's details.
func message(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Message + " (" + de.Code + ")"
	}
	return "the server could not do it now; try again"
}

var notices = map[string]string{
	"disabled": "The account is disabled.", "enabled": "The account is enabled.",
	"granted": "The role is granted.", "revoked": "The role is revoked.",
	"redelivered": "The parked deliveries were sent again.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("done")] }
