package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
)

// DemoSite is the demo that `bindery dev` serves under /demo/: a PC login
// page and a page that plays the mini program, both calling the public API
// like any client would. The phone page also needs the WeChat simulator's
// control API (to create simulated users and mint their wx.login and
// phone-number codes); the simulator is another origin, so its few endpoints
// the page needs are proxied under /demo/sim/. Dev mode only: the proxy is
// an open door to the simulator.
type DemoSite struct {
	// Pages holds pc.html, phone.html and assets/ (plain HTML, JS, CSS).
	Pages fs.FS
	// SimURL is the simulator's base URL (the WeChat API base in dev mode).
	SimURL string
	// App is the demo app's id in Bindery; AppID its WeChat appid at the
	// simulator. Both are handed to the pages in /demo/config.json.
	App, AppID string
	// Client calls the simulator; nil means a client with a 10 s timeout.
	Client *http.Client
}

// demoPages maps the page URLs to their files.
var demoPages = map[string]string{"pc": "pc.html", "phone": "phone.html"}

// demoSimRoutes are the simulator endpoints a demo page may reach: the
// user and code mints, never app registration or fault injection.
var demoSimRoutes = []struct {
	method string
	path   *regexp.Regexp
}{
	{http.MethodPost, regexp.MustCompile(`^users$`)},
	{http.MethodGet, regexp.MustCompile(`^users/[A-Za-z0-9_-]{1,64}$`)},
	{http.MethodPost, regexp.MustCompile(`^login$`)},
	{http.MethodPost, regexp.MustCompile(`^phone-code$`)},
}

// demoCSP keeps the pages to their own scripts and styles; images may come
// from the issuer's origin (image_url), which need not be the page's.
const demoCSP = "default-src 'self'; img-src 'self' data: http: https:; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// demoRoutes registers /demo/* when the demo is on. Both routes are
// wildcards under /demo/, which the OpenAPI description leaves out: they
// are not part of the API.
func (s *Server) demoRoutes(e *echo.Echo) {
	if s.Demo == nil || s.Demo.Pages == nil {
		return
	}
	e.GET("/demo/*", s.demoGet)
	e.POST("/demo/*", s.demoPost)
}

func (s *Server) demoGet(c echo.Context) error {
	rest := c.Param("*")
	switch {
	case rest == "":
		return c.Redirect(http.StatusFound, "/demo/pc")
	case rest == "config.json":
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return c.JSON(http.StatusOK, map[string]string{"app": s.Demo.App, "appid": s.Demo.AppID})
	case strings.HasPrefix(rest, "sim/"):
		return s.demoSim(c, strings.TrimPrefix(rest, "sim/"))
	case demoPages[rest] != "":
		return s.demoFile(c, demoPages[rest])
	case strings.HasPrefix(rest, "assets/"):
		return s.demoFile(c, rest)
	}
	return domain.NotFound("no demo page %q", rest)
}

func (s *Server) demoPost(c echo.Context) error {
	rest := c.Param("*")
	if !strings.HasPrefix(rest, "sim/") {
		return echo.ErrMethodNotAllowed
	}
	return s.demoSim(c, strings.TrimPrefix(rest, "sim/"))
}

// demoFile serves one embedded file: no directory listings, no paths that
// climb out.
func (s *Server) demoFile(c echo.Context, name string) error {
	if !fs.ValidPath(name) || strings.HasSuffix(name, "/") {
		return domain.NotFound("no demo file %q", name)
	}
	data, err := fs.ReadFile(s.Demo.Pages, name)
	if err != nil {
		return domain.NotFound("no demo file %q", name)
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(data)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", demoCSP)
	h.Set("Referrer-Policy", "no-referrer")
	return c.Blob(http.StatusOK, ctype, data)
}

// demoSim forwards one allowed call to the simulator's control API. The
// simulator's refusals become problems like every other error here.
func (s *Server) demoSim(c echo.Context, rest string) error {
	req := c.Request()
	allowed := false
	for _, r := range demoSimRoutes {
		if r.method == req.Method && r.path.MatchString(rest) {
			allowed = true
			break
		}
	}
	if !allowed {
		return domain.NotFound("the demo does not forward %s /sim/%s", req.Method, rest)
	}
	target, err := url.JoinPath(s.Demo.SimURL, "sim", rest)
	if err != nil {
		return domain.New(domain.KindUnavailable, "simulator_unavailable", "the WeChat simulator's URL is not usable")
	}
	if q := req.URL.Query().Get("appid"); q != "" {
		target += "?appid=" + url.QueryEscape(q)
	}
	var body io.Reader
	if req.Method == http.MethodPost {
		data, err := io.ReadAll(io.LimitReader(req.Body, 64<<10+1))
		if err != nil {
			return domain.Invalid("the body could not be read")
		}
		if len(data) > 64<<10 {
			return domain.New(domain.KindTooLarge, "body_too_large", "the body is larger than 64 KiB")
		}
		body = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, req.Method, target, body)
	if err != nil {
		return domain.New(domain.KindUnavailable, "simulator_unavailable", "the WeChat simulator's URL is not usable")
	}
	if body != nil {
		out.Header.Set(echo.HeaderContentType, "application/json")
	}
	client := s.Demo.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(out)
	if err != nil {
		return domain.New(domain.KindUnavailable, "simulator_unavailable", "the WeChat simulator did not answer")
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return domain.New(domain.KindUnavailable, "simulator_unavailable", "the WeChat simulator's answer was cut off")
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = "the simulator answered " + resp.Status
		}
		if resp.StatusCode == http.StatusNotFound {
			return domain.New(domain.KindNotFound, "simulator_not_found", "WeChat simulator: %s", e.Error)
		}
		if resp.StatusCode >= 500 {
			return domain.New(domain.KindUnavailable, "simulator_unavailable", "WeChat simulator: %s", e.Error)
		}
		return domain.New(domain.KindValidation, "simulator_refused", "WeChat simulator: %s", e.Error)
	}
	if !json.Valid(data) {
		return domain.New(domain.KindUnavailable, "simulator_unavailable", "the WeChat simulator answered something that is not JSON")
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSONBlob(resp.StatusCode, data)
}
