// Package handlers is Bindery's HTTP API on Echo: routes decode a request,
// call a command or a query, and encode the answer; one error mapper turns
// every failure into an RFC 9457 problem.
package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bindery/bindery/docs"
	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/accountsync"
	"github.com/bindery/bindery/internal/app/apps"
	"github.com/bindery/bindery/internal/app/authz"
	"github.com/bindery/bindery/internal/app/login"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
	"github.com/bindery/bindery/internal/app/qr"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/app/webhooks"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/internal/server/metrics"
	"github.com/bindery/bindery/projections"
)

// PositionHeader carries the store position a command reached, and the one
// a query must wait for.
const PositionHeader = "X-Bindery-Position"

// Deps are what the routes need. Features whose dependency is nil are off.
type Deps struct {
	Store      events.Store
	Engine     *projections.Engine
	Accounts   *accounts.Service
	AccountsV  *projections.Accounts
	AdminToken string
	// AdminTokens are more admin tokens by name (AdminToken is the one
	// named "admin"); a command's actor is admin:<name>.
	AdminTokens map[string]string
	Logger      *slog.Logger
	Metrics     *metrics.Metrics
	Now         func() time.Time
	// WaitTimeout bounds how long a query waits for min_position.
	WaitTimeout time.Duration
	// RequestTimeout bounds a request (default 10 s; long-polls get their
	// wait on top, streams and bulk syncs none): a store that does not
	// answer makes it a 503 with Retry-After, never a hang.
	RequestTimeout time.Duration
	// StoreUnavailable recognises the store's errors that mean it could not
	// be reached or did not answer (503 store_unavailable); nil: none.
	StoreUnavailable func(error) bool
	// Audit answers the audit API (query, verify, seal, keys; views come
	// from Engine).
	Audit *audit.Service
	// Signer signs and verifies id_tokens (discovery, JWKS, userinfo, the
	// user middleware); Sessions refreshes and revokes session tokens.
	Signer   *tokens.Signer
	Sessions *sessions.Service
	// Apps registers and reads login schemes; Login runs mini-program
	// logins, binds and registrations (apps.go, login.go).
	Apps  *apps.Service
	Login *login.Login
	// RateLimit is the per-client-IP limit of the public endpoints in
	// requests per second (0 = off); TrustedProxies are the peers whose
	// X-Forwarded-For names the client.
	RateLimit      float64
	TrustedProxies []netip.Prefix
	// Authz takes role, grant and org commands; AuthzV answers role and
	// org reads and authorization checks.
	Authz  *authz.Service
	AuthzV *projections.Authz
	// Webhooks takes webhook registrations, WebhooksV reads them, and
	// WebhookDeliveries (the forwarder) lists and redelivers parked ones.
	Webhooks          *webhooks.Service
	WebhooksV         *projections.Webhooks
	WebhookDeliveries WebhookDeliveries
	// QR runs QR logins for PCs (qr.go).
	QR *qr.Service
	// Demo serves the dev-mode demo pages under /demo/ (demo.go); nil off.
	Demo *DemoSite
	// Sync runs bulk account syncs (sync.go).
	Sync *accountsync.Service
	// HomeLinks are more links for people on the home page (pages.go).
	HomeLinks []HomeLink
	// OIDCClients registers OIDC clients, OIDCClientsV reads them
	// (oidcclients.go).
	OIDCClients  *appoidc.Clients
	OIDCClientsV *projections.OIDCClients
	// OIDC is the OpenID Provider (oidc.go); SignIn runs its hosted login
	// page (oidclogin.go).
	OIDC   OIDCProvider
	SignIn *appoidc.SignIn
	// AdminAccess lets the admin API take, besides admin tokens, the
	// access tokens the OpenID Provider issued to AdminClient (the
	// console) for an account holding bindery:admin (admin_access.go);
	// nil: admin tokens only.
	AdminAccess AdminAccessTokens
	AdminClient string
	// Devices runs the device flow's user-code lookup (qr_lookup.go).
	Devices *appoidc.Devices
	// Sealer opens the personal values of a person's own history for
	// GET /v1/me/data (me.go); nil: they show as erased.
	Sealer events.Sealer
}

// Server is the HTTP API.
type Server struct {
	Deps
	e          *echo.Echo
	log        *slog.Logger
	admins     []adminToken
	limiter    *ipLimiter // nil: no per-IP limit
	adminFails *ipLimiter // failed admin authentications per IP
	peerKey    []byte     // keys the client pseudonyms of log lines (logpeer.go)
	// lookupFails are failed user-code lookups per IP (qr_lookup.go).
	lookupFails *ipLimiter
	keys        keyRefresh
	exports     exportGate // GET /v1/me/data (me.go)
	homeState
}

// New builds the Echo instance with every route.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.WaitTimeout == 0 {
		d.WaitTimeout = 5 * time.Second
	}
	if d.RequestTimeout == 0 {
		d.RequestTimeout = 10 * time.Second
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	s := &Server{Deps: d, e: echo.New(), log: d.Logger}
	s.admins = adminTokens(d.AdminToken, d.AdminTokens)
	s.limiter = newIPLimiter(d.RateLimit, d.TrustedProxies)
	s.peerKey = newPeerKey()
	s.adminFails = newAdminFailLimiter(d.TrustedProxies)
	s.lookupFails = newLookupFailLimiter(d)
	e := s.e
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.requestID, middleware.Recover(), s.observe, s.deadline, s.cors, middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: "1M", Skipper: streamedBody}), s.waitForPosition)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{})))
	e.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", docs.OpenAPI)
	})
	s.accountRoutes(e)
	s.auditRoutes(e)
	s.sessionRoutes(e)
	s.appRoutes(e)
	s.loginRoutes(e)
	s.authzRoutes(e)
	s.webhookRoutes(e)
	s.qrRoutes(e)
	s.demoRoutes(e)
	s.syncRoutes(e)
	s.pageRoutes(e)
	s.oidcClientRoutes(e)
	s.oidcRoutes(e)
	s.deviceRoutes(e)
	s.meRoutes(e)
	return s
}

// Handler is the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.e }

// Echo exposes the router (for route listing in tests and feature wiring).
func (s *Server) Echo() *echo.Echo { return s.e }

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID keeps a sane client-sent X-Request-Id, or makes one.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !requestIDPattern.MatchString(id) {
			id = uuid.NewString()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

// observe logs each request (path only: queries may hold poll tokens) and
// records its latency.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		s.Metrics.HTTPDuration.WithLabelValues(c.Request().Method, route, strconv.Itoa(status)).Observe(d.Seconds())
		if route != "/metrics" && route != "/healthz" && route != "/readyz" {
			s.log.Info("http", append([]any{"method", c.Request().Method, "route", route, "status", status,
				"duration_ms", float64(d.Microseconds()) / 1000, "request_id", c.Response().Header().Get(echo.HeaderXRequestID)},
				s.peerFields(c)...)...)
		}
		return nil
	}
}

// waitForPosition makes a request answer only once the views have reached
// the position the client names (?min_position= or the X-Bindery-Position
// header), so it reads its own writes on any replica. Commands wait too:
// several decide on views (a QR login reads its app's settings).
func (s *Server) waitForPosition(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.Engine == nil {
			return next(c)
		}
		tok := c.QueryParam("min_position")
		if tok == "" {
			tok = c.Request().Header.Get(PositionHeader)
		}
		if tok == "" {
			return next(c)
		}
		pos, err := events.ParsePosition(tok)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.WaitTimeout)
		defer cancel()
		if err := s.Engine.WaitFor(ctx, pos); err != nil {
			return err
		}
		return next(c)
	}
}

// adminToken is one admin token: its name and the hash it is compared by.
type adminToken struct {
	name string
	hash [32]byte
}

func adminTokens(single string, named map[string]string) []adminToken {
	var out []adminToken
	if single != "" {
		out = append(out, adminToken{"admin", sha256.Sum256([]byte(single))})
	}
	for name, tok := range named {
		if tok != "" && (name != "admin" || single == "") {
			out = append(out, adminToken{name, sha256.Sum256([]byte(tok))})
		}
	}
	return out
}

// adminNameKey holds the name of the admin token a request carried.
const adminNameKey = "bindery.admin_name"

// admin checks the bearer admin token in constant time against every
// named token, and remembers the name for the events' actor; a web app
// access token goes to adminByAccessToken instead. A client
// address with too many failures gets 429 before its token is looked at.
func (s *Server) admin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(ctxAdminRoute, true) // logpeer.go
		now := time.Now()
		if wait, ok := s.adminFails.left(c.Request(), now); !ok {
			return &domain.Error{
				Kind: domain.KindRateLimited, Code: "rate_limited", RetryAfter: wait,
				Message: "too many failed admin authentications from this address; retry later",
			}
		}
		tok, ok := bearer(c)
		given := sha256.Sum256([]byte(tok))
		name := ""
		for _, a := range s.admins {
			if subtle.ConstantTimeCompare(given[:], a.hash[:]) == 1 {
				name = a.name
			}
		}
		if ok && name == "" && s.AdminAccess != nil && oidcAccessToken(c) {
			return s.adminByAccessToken(c, tok, next)
		}
		if !ok || name == "" {
			s.adminFails.allow(c.Request(), now)
			return domain.New(domain.KindUnauthorized, "unauthorized", "a valid admin bearer token is required")
		}
		c.Set(adminNameKey, name)
		return next(c)
	}
}

func bearer(c echo.Context) (string, bool) {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// meta is who asked and when, for the events a command appends.
func (s *Server) meta(c echo.Context, actor string) events.Meta {
	return events.Meta{Actor: actor, RequestID: c.Response().Header().Get(echo.HeaderXRequestID), Time: s.Now()}
}

// adminMeta attributes a command to the administrator's account
// (account:<id>) when an access token let the request in, else to the
// admin token by its name (admin:<name>), never to anything derived from
// the token.
func (s *Server) adminMeta(c echo.Context) events.Meta {
	if actor, _ := c.Get(adminActorKey).(string); actor != "" {
		return s.meta(c, actor)
	}
	name, _ := c.Get(adminNameKey).(string)
	if name == "" {
		name = "admin"
	}
	return s.meta(c, "admin:"+name)
}

// settledJSON answers a configuration write (an app, an OIDC client) once
// this replica's views hold it, bounded by WaitTimeout: the callers that use
// it next (a browser sent to /oauth2/authorize, a mini program logging in)
// carry no position to wait on. On timeout it still answers: the write is
// durable and the position header lets a client wait for it elsewhere.
func (s *Server) settledJSON(c echo.Context, status int, pos events.Position, body any) error {
	if s.Engine != nil && !pos.IsZero() {
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.WaitTimeout)
		_ = s.Engine.WaitFor(ctx, pos)
		cancel()
	}
	return commandJSON(c, status, pos, body)
}

// commandJSON answers a command with the position its events reached.
func commandJSON(c echo.Context, status int, pos events.Position, body any) error {
	if !pos.IsZero() {
		c.Response().Header().Set(PositionHeader, pos.String())
	}
	if body == nil {
		return c.NoContent(status)
	}
	return c.JSON(status, body)
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	body := map[string]any{}
	ok := true
	if s.Store != nil {
		head, err := s.Store.Head(ctx)
		if err != nil {
			ok = false
			body["store"] = "unreachable"
		} else {
			body["store"] = "ok"
			body["head"] = head.String()
		}
	}
	if s.Engine != nil {
		body["position"] = s.Engine.Position().String()
		if !s.Engine.Ready() {
			ok = false
			body["projections"] = "catching up"
		} else {
			body["projections"] = "ok"
		}
		if breaks := s.Engine.ChainBreaks(); len(breaks) > 0 {
			ok = false
			body["chain"] = "broken"
			body["reason"] = fmt.Sprintf("%d stored event(s) break their aggregate's hash chain and were not applied (first: %s sequence %d, %s); sealing stops before it; run binderyctl audit verify",
				len(breaks), breaks[0].Stream, breaks[0].Sequence, breaks[0].Subject)
			body["chain_breaks"] = breaks
		}
	}
	if !ok {
		body["status"] = "not ready"
		if body["chain"] != nil {
			body["status"] = "degraded"
		}
		return c.JSON(http.StatusServiceUnavailable, body)
	}
	body["status"] = "ready"
	return c.JSON(http.StatusOK, body)
}
