package console

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/bindery/bindery/internal/adapters/delivery"
	"github.com/bindery/bindery/projections"
)

func (c *Console) apps(w http.ResponseWriter, r *http.Request) {
	var list []projections.App
	if c.AppsV != nil {
		for _, id := range c.AppsV.IDs() {
			if a, ok := c.AppsV.Get(id); ok {
				list = append(list, a)
			}
		}
	}
	c.render(w, r, http.StatusOK, "apps", page{Title: "Apps", Nav: "apps", Data: list})
}

type roleRow struct {
	projections.Role
	Holders int
}

func (c *Console) roles(w http.ResponseWriter, r *http.Request) {
	var rows []roleRow
	for _, name := range c.AuthzV.RoleNames() {
		if ro, ok := c.AuthzV.Role(name); ok {
			holders, _ := c.AccountsV.Search(projections.AccountQuery{Role: name, Limit: 501})
			rows = append(rows, roleRow{Role: ro, Holders: len(holders)})
		}
	}
	c.render(w, r, http.StatusOK, "roles", page{Title: "Roles", Nav: "roles", Data: rows})
}

// orgNode is one line of the organisation tree, indented by depth.
type orgNode struct {
	projections.Org
	Depth int
}

func (c *Console) orgs(w http.ResponseWriter, r *http.Request) {
	var out []orgNode
	var walk func(id string, depth int)
	seen := map[string]bool{}
	walk = func(id string, depth int) {
		o, ok := c.AuthzV.Org(id)
		if !ok || seen[id] {
			return
		}
		seen[id] = true
		out = append(out, orgNode{Org: o, Depth: depth})
		for _, ch := range o.Children {
			walk(ch, depth+1)
		}
	}
	ids := c.AuthzV.OrgIDs()
	for _, id := range ids {
		if o, ok := c.AuthzV.Org(id); ok && (o.Parent == "" || !slices.Contains(ids, o.Parent)) {
			walk(id, 0)
		}
	}
	c.render(w, r, http.StatusOK, "orgs", page{Title: "Organisations", Nav: "orgs", Notice: notice(r), Data: out})
}

type webhookRow struct {
	projections.Webhook
	Recent []delivery.Delivery
	Parked []delivery.Parked
	More   bool
	Error  string
}

const parkedShown = 50

func (c *Console) webhooks(w http.ResponseWriter, r *http.Request) {
	var rows []webhookRow
	for _, h := range c.WebhooksV.List() {
		row := webhookRow{Webhook: h}
		if c.Deliveries != nil {
			var err error
			row.Parked, row.More, err = c.Deliveries.Failed(r.Context(), h.ID, parkedShown)
			if err != nil {
				row.Error = "the parked deliveries could not be read"
			}
			if row.Recent, err = c.Deliveries.Recent(r.Context(), h.ID); err != nil {
				row.Error = "the recent deliveries could not be read"
			}
		}
		rows = append(rows, row)
	}
	c.render(w, r, http.StatusOK, "webhooks", page{Title: "Webhooks", Nav: "webhooks", Notice: notice(r), Data: rows})
}

// redeliver sends a webhook's parked events again: the ones ticked, or all
// shown when none is.
func (c *Console) redeliver(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := c.WebhooksV.Get(id); !ok || c.Deliveries == nil {
		c.fail(w, r, http.StatusNotFound, "No such webhook", "There is no webhook "+id+".")
		return
	}
	ids := r.PostForm["event"]
	if len(ids) == 0 {
		parked, _, err := c.Deliveries.Failed(r.Context(), id, parkedShown)
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "Not done", "the parked deliveries could not be read; try again")
			return
		}
		for _, p := range parked {
			ids = append(ids, p.EventID)
		}
	}
	if !c.act(w, r, "POST", "/v1/webhooks/"+url.PathEscape(id)+"/redeliver", map[string][]string{"event_ids": ids}) {
		return
	}
	http.Redirect(w, r, "/console/webhooks?done=redelivered", http.StatusSeeOther)
}
