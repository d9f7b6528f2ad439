package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/bindery/bindery/projections"
)

type clientsData struct {
	Clients []projections.OIDCClient
	Apps    []string
	Self    string // the console's own client: not deleted here
}

// clients lists the web apps that sign in through Bindery (OIDC clients),
// with a form that registers one.
func (c *Console) clients(w http.ResponseWriter, r *http.Request) {
	d := clientsData{Self: ClientID}
	if c.OIDCClientsV != nil {
		d.Clients = c.OIDCClientsV.List()
	}
	if c.AppsV != nil {
		d.Apps = c.AppsV.IDs()
	}
	c.render(w, r, http.StatusOK, "clients", page{Title: "OIDC clients", Nav: "clients", Notice: notice(r), Data: d})
}

// lines splits a textarea into its non-empty lines.
func lines(v string) []string {
	var out []string
	for _, l := range strings.Split(v, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// registerClient registers (or replaces) a client: PUT
// /v1/oidc/clients/{client_id} with the form's fields.
func (c *Console) registerClient(w http.ResponseWriter, r *http.Request) {
	f := r.PostFormValue
	body := map[string]any{
		"name": f("name"), "app": f("app"), "type": f("type"), "redirect_uris": lines(f("redirect_uris")),
	}
	if s := f("secret"); s != "" {
		body["secret"] = s
	}
	if p := lines(f("post_logout_redirect_uris")); len(p) > 0 {
		body["post_logout_redirect_uris"] = p
	}
	if c.act(w, r, "PUT", "/v1/oidc/clients/"+url.PathEscape(strings.TrimSpace(f("client_id"))), body) {
		http.Redirect(w, r, "/console/clients?done=client-registered", http.StatusSeeOther)
	}
}

// confirmClientDelete asks before a client is deleted.
func (c *Console) confirmClientDelete(w http.ResponseWriter, r *http.Request) {
	cl, ok := c.OIDCClientsV.Get(r.PathValue("id"))
	if !ok {
		c.fail(w, r, http.StatusNotFound, "No such client", "There is no OIDC client "+r.PathValue("id")+".")
		return
	}
	c.render(w, r, http.StatusOK, "client-delete", page{Title: "Confirm", Nav: "clients", Data: cl})
}

// deleteClient deletes a client: DELETE /v1/oidc/clients/{client_id}.
func (c *Console) deleteClient(w http.ResponseWriter, r *http.Request) {
	if c.act(w, r, "DELETE", "/v1/oidc/clients/"+url.PathEscape(r.PathValue("id")), nil) {
		http.Redirect(w, r, "/console/clients?done=client-deleted", http.StatusSeeOther)
	}
}

// putOrg creates an organisation or moves / renames one: PUT
// /v1/orgs/{id} {"name", "parent"}.
func (c *Console) putOrg(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSpace(r.PostFormValue("id"))
	if c.act(w, r, "PUT", "/v1/orgs/"+url.PathEscape(id), map[string]string{"name": r.PostFormValue("name"), "parent": strings.TrimSpace(r.PostFormValue("parent"))}) {
		http.Redirect(w, r, "/console/orgs?done=org-saved", http.StatusSeeOther)
	}
}

// addMember adds an account to an organisation: POST
// /v1/orgs/{id}/members {"account_id"}.
func (c *Console) addMember(w http.ResponseWriter, r *http.Request) {
	org := strings.TrimSpace(r.PostFormValue("org"))
	if c.act(w, r, "POST", "/v1/orgs/"+url.PathEscape(org)+"/members", map[string]string{"account_id": strings.TrimSpace(r.PostFormValue("account_id"))}) {
		http.Redirect(w, r, "/console/orgs?done=member-added", http.StatusSeeOther)
	}
}

// removeMember takes an account out of an organisation, once the form's
// confirmation is ticked: DELETE /v1/orgs/{id}/members/{account}.
func (c *Console) removeMember(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("confirm") != "yes" {
		c.fail(w, r, http.StatusBadRequest, "Not done", "Tick the confirmation to remove the member.")
		return
	}
	org, account := strings.TrimSpace(r.PostFormValue("org")), strings.TrimSpace(r.PostFormValue("account_id"))
	if c.act(w, r, "DELETE", "/v1/orgs/"+url.PathEscape(org)+"/members/"+url.PathEscape(account), nil) {
		http.Redirect(w, r, "/console/orgs?done=member-removed", http.StatusSeeOther)
	}
}
