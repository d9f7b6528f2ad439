package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/qr"
)

// PollTokenHeader carries a QR login's poll token.
const PollTokenHeader = "X-Poll-Token"

// sseWait is how long one round of the event stream waits before it sends
// a keep-alive comment (proxies close idle connections).
const sseWait = 20 * time.Second

func (s *Server) qrRoutes(e *echo.Echo) {
	if s.QR == nil {
		return
	}
	e.POST("/v1/apps/:app/qr", s.startQR, s.publicLimit)
	e.GET("/v1/qr/:id", s.pollQR, s.publicLimit)
	e.GET("/v1/qr/:id/events", s.qrEvents, s.publicLimit)
	e.GET("/v1/qr/:id/image.png", s.qrImage, s.publicLimit)
	e.POST("/v1/qr/:id/scan", s.scanQR, s.publicLimit, s.user)
	e.POST("/v1/qr/:id/confirm", s.confirmQR, s.publicLimit, s.user)
	e.POST("/v1/qr/:id/cancel", s.cancelQR, s.publicLimit, s.user)
}

// clientIP is the client's address as the per-IP limit sees it: the TCP
// peer, or what a trusted proxy says in X-Forwarded-For.
func (s *Server) clientIP(c echo.Context) string {
	l := ipLimiter{trusted: s.TrustedProxies}
	a := l.clientIP(c.Request())
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// startQR opens a QR login for the PC that asks; the body, if any, is
// ignored. The answer holds the poll token, shown only here.
func (s *Server) startQR(c echo.Context) error {
	noStore(c)
	if err := noBody(c); err != nil {
		return err
	}
	out, pos, err := s.QR.Start(c.Request().Context(), s.meta(c, ""), c.Param("app"), s.clientIP(c), c.Request().UserAgent())
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusCreated, pos, out)
}

func pollToken(c echo.Context) string {
	if t := c.Request().Header.Get(PollTokenHeader); t != "" {
		return t
	}
	return c.QueryParam("poll_token")
}

// waitParam reads ?wait= (whole seconds, 0-30); anything else, above the
// range as below it, is a validation_failed.
func waitParam(c echo.Context) (time.Duration, error) {
	raw := c.QueryParam("wait")
	if raw == "" {
		return 0, nil
	}
	maxWait := int(qr.MaxWait.Seconds())
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || n > maxWait {
		return 0, validationf("wait: whole seconds, 0 to %d", maxWait)
	}
	return time.Duration(n) * time.Second, nil
}

// knownState reads ?state=, the state the poller already shows: a
// long-poll returns as soon as the state differs from it.
func knownState(c echo.Context) (string, error) {
	st := c.QueryParam("state")
	switch qrlogin.State(st) {
	case "", qrlogin.Pending, qrlogin.Scanned, qrlogin.Confirmed, qrlogin.Consumed, qrlogin.Cancelled, qrlogin.Expired:
		return st, nil
	}
	return "", validationf("state: one of PENDING, SCANNED, CONFIRMED, CONSUMED, CANCELLED, EXPIRED")
}

func (s *Server) pollQR(c echo.Context) error {
	noStore(c)
	wait, err := waitParam(c)
	if err != nil {
		return err
	}
	known, err := knownState(c)
	if err != nil {
		return err
	}
	st, pos, err := s.QR.Poll(c.Request().Context(), s.meta(c, ""), c.Param("id"), pollToken(c), known, wait)
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusOK, pos, st)
}

// qrEvents streams the session's states as Server-Sent Events ("state"
// events whose data is what GET /v1/qr/{id} answers) until it ends. The
// first look happens before the stream starts, so a wrong id or token is
// an ordinary problem response.
func (s *Server) qrEvents(c echo.Context) error {
	ctx := c.Request().Context()
	id, tok := c.Param("id"), pollToken(c)
	known, err := knownState(c)
	if err != nil {
		return err
	}
	st, _, err := s.QR.Poll(ctx, s.meta(c, ""), id, tok, known, 0)
	if err != nil {
		return err
	}
	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) bool {
		data, err := json.Marshal(v)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return false
		}
		w.Flush()
		return true
	}
	if !send("state", st) {
		return nil
	}
	known = st.State
	for !qrlogin.State(known).Final() && ctx.Err() == nil {
		st, _, err = s.QR.Poll(ctx, s.meta(c, ""), id, tok, known, sseWait)
		if err != nil {
			de, status := toProblem(err)
			send("error", Problem{Type: ProblemTypeBase + de.Code, Title: http.StatusText(status), Status: status, Detail: de.Message, Code: de.Code})
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if st.State == known {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			w.Flush()
			continue
		}
		if !send("state", st) {
			return nil
		}
		known = st.State
	}
	return nil
}

func (s *Server) qrImage(c echo.Context) error {
	img, until, err := s.QR.Image(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	// The code is worth keeping until the session expires.
	age := max(int(until.Sub(s.Now()).Seconds()), 0)
	c.Response().Header().Set(echo.HeaderCacheControl, "private, max-age="+strconv.Itoa(age))
	return c.Blob(http.StatusOK, "image/png", img)
}

// userStep runs a mini-program user's step and answers the state and who
// asked.
func (s *Server) userStep(c echo.Context, step func(meta events.Meta, id string, u UserClaims) (qr.Step, events.Position, error)) error {
	u := currentUser(c)
	if u.AccountID == "" {
		return domain.New(domain.KindUnauthorized, "unauthorized", "an id_token is required as bearer token")
	}
	if err := noBody(c); err != nil {
		return err
	}
	out, pos, err := step(s.meta(c, u.AccountID), c.Param("id"), u)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return commandJSON(c, http.StatusOK, pos, out)
}

func (s *Server) scanQR(c echo.Context) error {
	return s.userStep(c, func(meta events.Meta, id string, u UserClaims) (qr.Step, events.Position, error) {
		return s.QR.Scan(c.Request().Context(), meta, id, u.AccountID, u.App)
	})
}

func (s *Server) confirmQR(c echo.Context) error {
	return s.userStep(c, func(meta events.Meta, id string, u UserClaims) (qr.Step, events.Position, error) {
		return s.QR.Confirm(c.Request().Context(), meta, id, u.AccountID)
	})
}

func (s *Server) cancelQR(c echo.Context) error {
	return s.userStep(c, func(meta events.Meta, id string, u UserClaims) (qr.Step, events.Position, error) {
		return s.QR.Cancel(c.Request().Context(), meta, id, u.AccountID)
	})
}
