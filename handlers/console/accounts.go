package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

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
	Sessions []sessionRow
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
	d.Sessions = liveSessions(d.Timeline, c.Now())
	c.render(w, r, http.StatusOK, "account", page{Title: nameOf(acc), Nav: "accounts", Notice: notice(r), Data: d})
}

// The timeline shows an account's newest timelineLimit events, read from
// at most timelineScan of them (oldest first, as the audit query answers).
const (
	timelineLimit = 500
	timelineScan  = 20000
)

// timeline is the account's own events from the audit query, newest first;
// more says that older ones were left out.
func (c *Console) timeline(r *http.Request, id string) ([]timelineEntry, bool, string) {
	if c.Audit == nil {
		return nil, false, "the audit log is not available on this server"
	}
	var out []timelineEntry
	seen := 0
	f := audit.Filter{Account: id, Limit: timelineLimit}
	for {
		res, err := c.Audit.Events(r.Context(), f, func(it audit.Item) error {
			var ev struct {
				Type  string          `json:"type"`
				Actor string          `json:"actor"`
				Data  json.RawMessage `json:"data"`
			}
			_ = json.Unmarshal(it.Raw, &ev)
			out = append(out, timelineEntry{Time: it.Time, Type: shortName(ev.Type), Actor: ev.Actor, Stream: it.Stream, Data: string(ev.Data)})
			seen++
			return nil
		})
		if err != nil {
			return nil, false, "the audit log could not be read: " + err.Error()
		}
		if len(out) > timelineLimit {
			out = append(out[:0], out[len(out)-timelineLimit:]...)
		}
		if !res.More || seen >= timelineScan {
			break
		}
		f.After = res.Next
	}
	slices.Reverse(out) // newest first: what an administrator looks for
	return out, seen > len(out), ""
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
	Action  string // disable, enable, erase, revoke, revoke-session
	Role    string
	Org     string
	Session string
}

func (c *Console) confirmAccount(w http.ResponseWriter, r *http.Request) {
	acc, ok := c.lookup(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	d := confirmData{Account: acc, Action: q.Get("action"), Role: q.Get("role"), Org: q.Get("org"), Session: q.Get("session")}
	switch d.Action {
	case "disable", "enable", "erase", "revoke", "revoke-session":
	default:
		c.fail(w, r, http.StatusBadRequest, "Unknown action", "Nothing to confirm.")
		return
	}
	c.render(w, r, http.StatusOK, "confirm", page{Title: "Confirm", Nav: "accounts", Data: d})
}

func (c *Console) disable(w http.ResponseWriter, r *http.Request) {
	c.command(w, r, "disabled", "POST", "/disable", nil)
}

func (c *Console) enable(w http.ResponseWriter, r *http.Request) {
	c.command(w, r, "enabled", "POST", "/enable", nil)
}

// erase erases the account's person once the confirmation is ticked: POST
// /v1/accounts/{id}/erase.
func (c *Console) erase(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("confirm") != "yes" {
		c.fail(w, r, http.StatusBadRequest, "Not done", "Tick the confirmation to erase the account.")
		return
	}
	c.command(w, r, "erased", "POST", "/erase", nil)
}

func (c *Console) grant(w http.ResponseWriter, r *http.Request) {
	c.command(w, r, "granted", "POST", "/roles", map[string]string{"role": r.PostFormValue("role"), "org": r.PostFormValue("org")})
}

func (c *Console) revoke(w http.ResponseWriter, r *http.Request) {
	path := "/roles/" + url.PathEscape(r.PostFormValue("role"))
	if org := r.PostFormValue("org"); org != "" {
		path += "?org=" + url.QueryEscape(org)
	}
	c.command(w, r, "revoked", "DELETE", path, nil)
}

func (c *Console) revokeSession(w http.ResponseWriter, r *http.Request) {
	c.command(w, r, "session-revoked", "DELETE", "/sessions/"+url.PathEscape(r.PostFormValue("session")), nil)
}

// command runs one admin API request on the account (method, the path
// under /v1/accounts/{id}) and goes back to the account's page with a
// notice (post/redirect/get), waiting for the views to show it.
func (c *Console) command(w http.ResponseWriter, r *http.Request, done, method, sub string, body any) {
	acc, ok := c.lookup(w, r)
	if !ok {
		return
	}
	if c.act(w, r, method, "/v1/accounts/"+acc.ID+sub, body) {
		http.Redirect(w, r, "/console/accounts/"+acc.ID+"?done="+done, http.StatusSeeOther)
	}
}

// act runs one admin API request as the administrator and waits until the
// views show it; on failure it shows the API's problem and answers false.
// A 401 means the administrator's sign-in ended: the console session ends
// with it.
func (c *Console) act(w http.ResponseWriter, r *http.Request, method, path string, body any) bool {
	pos, err := c.call(r, method, path, body, nil)
	if err == nil {
		err = c.waitFor(r, pos)
	}
	if err == nil {
		return true
	}
	status := http.StatusServiceUnavailable
	if ae, ok := err.(*apiError); ok {
		status = ae.Status
	}
	if status == http.StatusUnauthorized {
		c.setCookie(w, cookieName, "", -1)
		c.fail(w, r, status, "Signed out", "Your sign-in has ended ("+message(err)+"): sign in again.")
		return false
	}
	c.fail(w, r, status, "Not done", message(err))
	return false
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

// message is what a page says of an error: the problem's message and
// code, as the API would answer it (never an internal error's details).
func message(err error) string {
	if ae, ok := err.(*apiError); ok {
		return ae.Detail + " (" + ae.Code + ")"
	}
	de, _ := handlers.ProblemOf(err)
	return de.Message + " (" + de.Code + ")"
}

var notices = map[string]string{
	"disabled": "The account is disabled.", "enabled": "The account is enabled.",
	"erased":  "The account is erased: its data key is destroyed and its values are free.",
	"granted": "The role is granted.", "revoked": "The role is revoked.",
	"session-revoked":   "The session is revoked: its next refresh is refused.",
	"redelivered":       "The parked deliveries were sent again.",
	"client-registered": "The OIDC client is registered.", "client-deleted": "The OIDC client is deleted.",
	"org-saved": "The organisation is saved.", "member-added": "The member is added.", "member-removed": "The member is removed.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("done")] }
