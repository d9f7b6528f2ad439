package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	fastjson "github.com/goccy/go-json"
	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/projections"
)

// MaxExportEvents bounds the history of one GET /v1/me/data answer; the
// rest comes with ?after=<history_next>.
const MaxExportEvents = 5000

// maxConcurrentExports bounds the exports running at once: each reads
// both streams through (the account filter names no subject).
const maxConcurrentExports = 2

func (s *Server) meRoutes(e *echo.Echo) {
	if s.AccountsV == nil || s.Signer == nil || s.Audit == nil {
		return
	}
	s.exports = exportGate{slots: make(chan struct{}, maxConcurrentExports), running: map[string]bool{}}
	e.GET("/v1/me/data", s.meData, s.publicLimit, s.person)
}

// exportGate lets a bounded number of exports run, one per account.
type exportGate struct {
	slots   chan struct{}
	mu      sync.Mutex
	running map[string]bool
}

var errExportBusy = &domain.Error{Kind: domain.KindRateLimited, Code: "rate_limited", RetryAfter: time.Second,
	Message: "an export is already running (yours, or the server's limit of concurrent exports): retry shortly"}

// enter takes a slot for account's export, or answers errExportBusy.
func (g *exportGate) enter(account string) (func(), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[account] {
		return nil, errExportBusy
	}
	select {
	case g.slots <- struct{}{}:
	default:
		return nil, errExportBusy
	}
	g.running[account] = true
	return func() {
		g.mu.Lock()
		delete(g.running, account)
		g.mu.Unlock()
		<-g.slots
	}, nil
}

// person lets a request through with the person's own token — a
// mini-program id_token (the user middleware: signature, then the session
// still live and the account active, on the store) or an access token the
// OpenID Provider issued to any web app (its sign-in still live) — and
// sets currentUser to the token's subject. The route takes no account id:
// what it answers is always the bearer's own.
func (s *Server) person(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.AdminAccess == nil || !oidcAccessToken(c) {
			return s.user(next)(c)
		}
		tok, _ := bearer(c)
		ctx := c.Request().Context()
		claims, err := s.verifyAccessToken(ctx, tok)
		if err != nil {
			if errors.Is(err, tokens.ErrExpired) {
				return invalidToken(c, "the access token expired; refresh it")
			}
			return invalidToken(c, "the access token is not valid")
		}
		clientID, _ := claims["client_id"].(string)
		sub, _ := claims["sub"].(string)
		jti, _ := claims["jti"].(string)
		if clientID == "" || sub == "" {
			return invalidToken(c, "the access token lacks sub or client_id")
		}
		if err := s.AdminAccess.Active(ctx, jti, sub, clientID); err != nil {
			var de *domain.Error
			if errors.As(err, &de) && de.Kind == domain.KindUnauthorized {
				return invalidToken(c, de.Message)
			}
			return err
		}
		acc, ok := s.AccountsV.Get(sub)
		switch {
		case !ok:
			return invalidToken(c, "the access token's account does not exist")
		case account.Blocked(acc.Status) != nil:
			return account.Blocked(acc.Status)
		}
		c.Set(userKey, UserClaims{AccountID: sub, App: clientID})
		return next(c)
	}
}

// personalData is a person's copy of what Bindery holds about them (SPEC
// §8, data portability).
type personalData struct {
	ExportedAt time.Time             `json:"exported_at"`
	Account    projections.Account   `json:"account"`
	Bindings   []projections.Binding `json:"bindings"`
	Roles      []exportedRole        `json:"roles"`
	Orgs       []exportedOrg         `json:"orgs"`
	// History are the person's events (their account's, and those of other
	// aggregates that name it: logins, sessions, memberships), opened.
	History     []json.RawMessage `json:"history"`
	HistoryNext string            `json:"history_next"`
	HistoryMore bool              `json:"history_more"`
}

type exportedRole struct {
	Role        string   `json:"role"`
	Org         string   `json:"org,omitempty"`
	Permissions []string `json:"permissions"`
}

type exportedOrg struct {
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Path []string `json:"path"`
}

// meData answers GET /v1/me/data: the bearer's account with its bindings,
// roles and orgs, and its history opened, a page of MaxExportEvents at a
// time (?after=).
func (s *Server) meData(c echo.Context) error {
	var after events.Position
	for k, v := range c.QueryParams() {
		switch k {
		case "after":
			p, err := events.ParsePosition(v[0])
			if err != nil {
				return err
			}
			after = p
		case "min_position":
		default:
			return domain.Invalid("unknown query parameter %q (use after)", k)
		}
	}
	u := currentUser(c)
	leave, err := s.exports.enter(u.AccountID)
	if err != nil {
		return err
	}
	defer leave()
	acc, ok := s.AccountsV.Get(u.AccountID)
	if !ok {
		return invalidToken(c, "the token's account does not exist")
	}
	out := personalData{ExportedAt: s.Now().UTC(), Account: acc, Bindings: acc.Bindings,
		Roles: []exportedRole{}, Orgs: []exportedOrg{}, History: []json.RawMessage{}}
	if out.Bindings == nil {
		out.Bindings = []projections.Binding{}
	}
	for _, g := range acc.Roles {
		r := exportedRole{Role: g.Role, Org: g.Org, Permissions: []string{}}
		if s.AuthzV != nil {
			if def, ok := s.AuthzV.Role(g.Role); ok {
				r.Permissions = def.Permissions
			}
		}
		out.Roles = append(out.Roles, r)
	}
	for _, id := range acc.Orgs {
		o := exportedOrg{ID: id, Path: []string{}}
		if s.AuthzV != nil {
			if def, ok := s.AuthzV.Org(id); ok {
				o.Name, o.Path = def.Name, def.Path
			}
		}
		out.Orgs = append(out.Orgs, o)
	}
	res, err := s.Audit.Events(c.Request().Context(), audit.Filter{Account: acc.ID, After: after, Limit: MaxExportEvents}, func(it audit.Item) error {
		ev, err := s.exportEvent(it.Raw)
		if err != nil {
			return err
		}
		out.History = append(out.History, ev)
		return nil
	})
	if err != nil {
		var de *domain.Error
		if errors.As(err, &de) {
			return err
		}
		return storeUnavailable(err)
	}
	out.HistoryNext, out.HistoryMore = res.Next.String(), res.More
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, out)
}

// exportEvent is one stored event as its person receives it: personal
// values opened (an erased one is null), and the members holding secrets
// sealed under the master key (a password hash) left out.
func (s *Server) exportEvent(raw []byte) (json.RawMessage, error) {
	opened, err := events.OpenEnvelope(s.Sealer, raw, events.ErasedNull)
	if err != nil {
		return nil, err
	}
	var env map[string]json.RawMessage
	if err := fastjson.Unmarshal(opened, &env); err != nil {
		return nil, err
	}
	var data map[string]json.RawMessage
	if fastjson.Unmarshal(env["data"], &data) == nil {
		dropped := false
		for k := range data {
			if strings.HasSuffix(k, "_sealed") {
				delete(data, k)
				dropped = true
			}
		}
		if dropped {
			if env["data"], err = json.Marshal(data); err != nil {
				return nil, err
			}
		}
	}
	return json.Marshal(env)
}
