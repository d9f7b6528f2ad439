// Package console is the admin console at /console: server-rendered
// html/template pages, with their stylesheet embedded, that call the same
// use cases and views as the admin API (docs/console.md says why).
package console

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/bindery/bindery/internal/adapters/delivery"
	"github.com/bindery/bindery/internal/app/authz"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/server/metrics"
	"github.com/bindery/bindery/projections"
)

// AdminPermission is what an account must hold to use the console.
const AdminPermission = authz.AdminPermission

// Deliveries is the webhook forwarder's latest attempts and poison queue
// (read here; the redelivery goes through the admin API).
type Deliveries interface {
	Recent(ctx context.Context, id string) ([]delivery.Delivery, error)
	Failed(ctx context.Context, id string, limit int) ([]delivery.Parked, bool, error)
}

// Deps are what the pages read and run. Nil features show as absent.
type Deps struct {
	// API is the admin API: every action of the console is its request,
	// made with the signed-in administrator's access token (api.go).
	API          http.Handler
	AccountsV    *projections.Accounts
	AuthzV       *projections.Authz
	AppsV        *projections.Apps
	WebhooksV    *projections.Webhooks
	OIDCClientsV *projections.OIDCClients
	Deliveries   Deliveries
	Audit        *audit.Service
	Engine       *projections.Engine
	Metrics      *metrics.Metrics
	// SignIn signs administrators in: the OIDC client of Bindery's own
	// OpenID Provider (oidc.go); nil: sign-in is unavailable.
	SignIn *OIDC
	// Key seals the console's cookies (derived from the master key).
	Key    []byte
	Secure bool // cookies only over https
	Now    func() time.Time
	Logger *slog.Logger
}

// Console serves /console.
type Console struct {
	Deps
	mux    *http.ServeMux
	pages  map[string]*template.Template
	verify *verifyRun
}

//go:embed templates/*.html static/*
var assets embed.FS

// New builds the console's routes.
func New(d Deps) *Console {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{Deps: d, mux: http.NewServeMux(), verify: &verifyRun{}}
	c.pages = parsePages()
	static, _ := fs.Sub(assets, "static")
	c.mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /console/signin", c.signinPage)
	c.mux.HandleFunc("GET /console/signin/start", c.signinStart)
	c.mux.HandleFunc("GET /console/signin/callback", c.signinCallback)
	c.mux.HandleFunc("POST /console/signout", c.admin(c.signout))

	c.mux.HandleFunc("GET /console", c.admin(c.overview))
	c.mux.HandleFunc("GET /console/{$}", c.admin(c.overview))
	c.mux.HandleFunc("GET /console/apps", c.admin(c.apps))
	c.mux.HandleFunc("GET /console/accounts", c.admin(c.accounts))
	c.mux.HandleFunc("GET /console/accounts/{id}", c.admin(c.account))
	c.mux.HandleFunc("GET /console/accounts/{id}/confirm", c.admin(c.confirmAccount))
	c.mux.HandleFunc("POST /console/accounts/{id}/disable", c.admin(c.disable))
	c.mux.HandleFunc("POST /console/accounts/{id}/erase", c.admin(c.erase))
	c.mux.HandleFunc("POST /console/accounts/{id}/enable", c.admin(c.enable))
	c.mux.HandleFunc("POST /console/accounts/{id}/roles", c.admin(c.grant))
	c.mux.HandleFunc("POST /console/accounts/{id}/roles/revoke", c.admin(c.revoke))
	c.mux.HandleFunc("POST /console/accounts/{id}/sessions/revoke", c.admin(c.revokeSession))
	c.mux.HandleFunc("GET /console/roles", c.admin(c.roles))
	c.mux.HandleFunc("GET /console/orgs", c.admin(c.orgs))
	c.mux.HandleFunc("POST /console/orgs", c.admin(c.putOrg))
	c.mux.HandleFunc("POST /console/orgs/members", c.admin(c.addMember))
	c.mux.HandleFunc("POST /console/orgs/members/remove", c.admin(c.removeMember))
	c.mux.HandleFunc("GET /console/clients", c.admin(c.clients))
	c.mux.HandleFunc("POST /console/clients", c.admin(c.registerClient))
	c.mux.HandleFunc("GET /console/clients/{id}/confirm", c.admin(c.confirmClientDelete))
	c.mux.HandleFunc("POST /console/clients/{id}/delete", c.admin(c.deleteClient))
	c.mux.HandleFunc("GET /console/webhooks", c.admin(c.webhooks))
	c.mux.HandleFunc("POST /console/webhooks/{id}/redeliver", c.admin(c.redeliver))
	c.mux.HandleFunc("GET /console/audit", c.admin(c.auditPage))
	c.mux.HandleFunc("POST /console/audit/verify", c.admin(c.auditVerify))
	c.mux.HandleFunc("GET /console/audit/export", c.admin(c.auditExport))
	return c
}

// csp allows nothing but the console's own stylesheet and forms to itself:
// no script at all, no inline style, no frames.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP implements http.Handler: every answer carries the strict
// headers, whatever the route.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/console/static/") {
		h.Set("Cache-Control", "no-store")
	}
	if _, pattern := c.mux.Handler(r); pattern == "" {
		c.fail(w, r, http.StatusNotFound, "No such page", "There is no console page at "+r.URL.Path+".")
		return
	}
	c.mux.ServeHTTP(w, r)
}

// page is what every template gets.
type page struct {
	Title  string
	Nav    string // the menu entry to highlight
	Admin  *projections.Account
	CSRF   string
	Notice string
	Data   any
}

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"short": func(s string) string {
			if len(s) > 8 {
				return s[:8]
			}
			return s
		},
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"join": strings.Join,
	}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html"))
	out := map[string]*template.Template{}
	names, _ := fs.Glob(assets, "templates/*.html")
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(assets, n))
	}
	return out
}

// render writes a page; the template runs into memory first, so a failing
// template is an error page, never half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if s := sessionOf(r); s != nil {
		p.CSRF = s.CSRF
	}
	if p.Admin == nil {
		p.Admin = adminOf(r)
	}
	var b strings.Builder
	if err := c.pages[name].ExecuteTemplate(&b, "layout.html", p); err != nil {
		c.Logger.Error("console template", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail renders an error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	c.render(w, r, status, "error", page{Title: title, Data: msg})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
