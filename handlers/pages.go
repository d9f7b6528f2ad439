package handlers

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/projections"
)

// pageFiles are the server's own pages for people: the home page and the
// page a QR code's URL opens outside the mini program.
//
//go:embed pages/*.html pages/*.css pages/*.svg pages/*.js
var pageFiles embed.FS

var pageTemplates = template.Must(template.ParseFS(pageFiles, "pages/*.html"))

// pageCSP allows the pages nothing but their own stylesheet: no script, no
// frame, no form.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// HomeLink is one more link the home page offers people (e.g. a demo web
// app that signs in through Bindery).
type HomeLink struct{ Href, Text string }

// pageRoutes registers the home page, the QR landing page and their CSS.
func (s *Server) pageRoutes(e *echo.Echo) {
	e.GET("/", s.homePage)
	asset := func(name, contentType string) echo.HandlerFunc {
		data, _ := pageFiles.ReadFile("pages/" + name)
		return func(c echo.Context) error {
			c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=3600")
			return c.Blob(http.StatusOK, contentType, data)
		}
	}
	e.GET("/pages/layout.css", asset("layout.css", "text/css; charset=utf-8"))
	e.GET("/pages/icon.svg", asset("icon.svg", "image/svg+xml"))
	e.GET("/pages/oidc-login.css", asset("oidc-login.css", "text/css; charset=utf-8"))
	e.GET("/pages/oidc-login.js", asset("oidc-login.js", "text/javascript; charset=utf-8"))
	if s.QR != nil {
		e.GET("/qr/:id", s.qrLandingPage, s.publicLimit)
	}
}

// renderPage answers an HTML page from a template.
func renderPage(c echo.Context, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	return c.HTMLBlob(status, buf.Bytes())
}

// homePage says what this server is and where to go from here.
func (s *Server) homePage(c echo.Context) error {
	s.homeOnce.Do(func() {
		for _, r := range s.e.Routes() {
			if r.Path == "/console" || r.Path == "/console/" {
				s.hasConsole = true
			}
		}
	})
	issuer := ""
	if s.Signer != nil {
		issuer = s.Signer.Issuer()
	}
	return renderPage(c, http.StatusOK, "home.html", map[string]any{
		"Issuer": issuer, "Console": s.hasConsole, "Demo": s.Demo != nil, "Extra": s.HomeLinks,
	})
}

// qrLandingPage is what a QR code's URL shows when it is opened outside
// the mini program (a phone's camera, a typed link): which app asks and how
// to go on in its mini program. It tells the state, never who asked: the
// URL is no secret.
func (s *Server) qrLandingPage(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	sess, ok := s.qrSession(c, c.Param("id"))
	if !ok {
		return renderPage(c, http.StatusNotFound, "qr.html", map[string]any{"Found": false})
	}
	name := sess.App
	if s.Apps != nil {
		if a, err := s.Apps.Get(c.Request().Context(), sess.App); err == nil && a.Name != "" {
			name = a.Name
		}
	}
	now := s.Now()
	state := sess.StateAt(now)
	open := state == projections.QRPending
	return renderPage(c, http.StatusOK, "qr.html", map[string]any{
		"Found": true, "ID": sess.ID, "AppName": name, "State": state, "Open": open,
		"Minutes":   max(1, int(sess.ExpiresAt.Sub(now).Round(time.Minute)/time.Minute)),
		"StateText": qrStateText[state],
	})
}

// qrSession reads a QR login from the view, waiting a moment for a code
// this replica has not applied yet (one opened right after it was made).
func (s *Server) qrSession(c echo.Context, id string) (projections.QRSession, bool) {
	ctx, cancel := context.WithTimeout(c.Request().Context(), time.Second)
	defer cancel()
	for {
		var changed <-chan struct{}
		var done func()
		if s.QR.Changed != nil {
			changed, done = s.QR.Changed()
		}
		sess, ok := s.QR.View.Get(id)
		if ok || changed == nil {
			if done != nil {
				done()
			}
			return sess, ok
		}
		select {
		case <-changed:
			done()
		case <-ctx.Done():
			done()
			return projections.QRSession{}, false
		}
	}
}

// qrStateText says what became of a code that can no longer be scanned.
var qrStateText = map[string]string{
	projections.QRScanned:   "Already scanned",
	projections.QRConfirmed: "Already used",
	projections.QRConsumed:  "Already used",
	projections.QRCancelled: "Cancelled",
	projections.QRExpired:   "Expired",
}

// homeState is what the home page learns once about the routes.
type homeState struct {
	homeOnce   sync.Once
	hasConsole bool
}
