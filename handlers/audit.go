package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/projections"
)

// The trailers of an audit export page (its lines are CloudEvents only;
// what paging needs comes after them, once it is known): the position to
// continue from, how many events the page held, whether the limit stopped
// it, the streams' heads when it started, a Link rel="next" when there is
// more, and, when the store failed mid-page, the problem code.
const (
	NextHeader  = "X-Bindery-Next"
	CountHeader = "X-Bindery-Count"
	MoreHeader  = "X-Bindery-More"
	HeadHeader  = "X-Bindery-Head"
	ErrorHeader = "X-Bindery-Error"
)

// auditTrailers are declared before the body.
var auditTrailers = strings.Join([]string{NextHeader, CountHeader, MoreHeader, HeadHeader, ErrorHeader, "Link"}, ", ")

func (s *Server) auditRoutes(e *echo.Echo) {
	if s.Audit == nil {
		return
	}
	e.GET("/v1/audit/events", s.auditEvents, s.admin)
	e.GET("/v1/audit/verify", s.auditVerify, s.admin)
	e.POST("/v1/audit/seal", s.auditSeal, s.admin)
	e.GET("/v1/audit/key", s.auditKey)
	if s.Engine != nil {
		e.GET("/v1/audit/views", s.auditViews, s.admin)
		e.GET("/v1/audit/views/:name", s.auditView, s.admin)
	}
}

func storeUnavailable(err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	return domain.New(domain.KindUnavailable, "store_unavailable", "the event store could not be read: try again")
}

// auditEvents streams matching events as NDJSON: one stored CloudEvent per
// line (plus the extension attributes "stream" and "sequence"), nothing
// else; the page's cursor follows as trailers. Memory stays flat whatever
// the count: lines are written as they are read.
func (s *Server) auditEvents(c echo.Context) error {
	f, err := audit.ParseFilter(c.QueryParams(), audit.DefaultLimit)
	if err != nil {
		return err
	}
	w := c.Response()
	started := false
	start := func() {
		if started {
			return
		}
		started = true
		w.Header().Set(echo.HeaderContentType, "application/x-ndjson")
		w.Header().Set("Trailer", auditTrailers)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}
	buf := make([]byte, 0, 4096)
	n := 0
	res, err := s.Audit.Events(c.Request().Context(), f, func(it audit.Item) error {
		start()
		buf = it.Line(buf[:0])
		if _, err := w.Write(buf); err != nil {
			return err
		}
		if n++; n%512 == 0 {
			w.Flush()
		}
		return nil
	})
	if err != nil && !started {
		if c.Request().Context().Err() != nil {
			return nil // the client left
		}
		return storeUnavailable(err)
	}
	start()
	if err != nil {
		// The status line is gone: say so in a trailer; the client goes on
		// from next.
		s.log.Warn("audit export stopped", "err", err, "count", res.Count)
		w.Header().Set(ErrorHeader, "store_unavailable")
	}
	h := w.Header()
	h.Set(NextHeader, res.Next.String())
	h.Set(CountHeader, strconv.Itoa(res.Count))
	h.Set(MoreHeader, strconv.FormatBool(res.More))
	h.Set(HeadHeader, res.Head.String())
	if res.More || err != nil {
		q := c.QueryParams()
		q.Set("after", res.Next.String())
		h.Set("Link", "<"+c.Request().URL.Path+"?"+q.Encode()+`>; rel="next"`)
	}
	return nil
}

// auditVerify checks the hash chains and checkpoints of both streams;
// ?seal=true seals first, so that nothing is left uncovered.
func (s *Server) auditVerify(c echo.Context) error {
	for k := range c.QueryParams() {
		if k != "seal" && k != "min_position" {
			return domain.Invalid("unknown query parameter %q (use seal)", k)
		}
	}
	if v := c.QueryParam("seal"); v != "" {
		seal, err := strconv.ParseBool(v)
		if err != nil {
			return domain.Invalid("seal: true or false")
		}
		if seal {
			if _, err := s.Audit.Seal(c.Request().Context()); err != nil {
				return storeUnavailable(err)
			}
		}
	}
	rep, err := s.Audit.Verify(c.Request().Context())
	if err != nil {
		return storeUnavailable(err)
	}
	return c.JSON(http.StatusOK, rep)
}

// auditSeal appends checkpoints now (the sealer also runs on its own).
func (s *Server) auditSeal(c echo.Context) error {
	got, err := s.Audit.Seal(c.Request().Context())
	if err != nil {
		return storeUnavailable(err)
	}
	if got == nil {
		got = []audit.Sealed{}
	}
	// No position header: checkpoints are not events, no view waits for them.
	return commandJSON(c, http.StatusOK, events.Position{}, map[string]any{"checkpoints": got})
}

// auditKey publishes the checkpoint keys (public: anyone may pin them).
func (s *Server) auditKey(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"current": s.Audit.Keys.KeyID(), "keys": s.Audit.Keys.Public()})
}

func (s *Server) auditViews(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"position": s.Engine.Position().String(), "views": s.Engine.ViewNames()})
}

// auditView returns one view's canonical snapshot with the position it
// reflects (?min_position= waits for that position first).
func (s *Server) auditView(c echo.Context) error {
	name := c.Param("name")
	raw, pos, err := s.Engine.ViewSnapshot(name)
	if errors.Is(err, projections.ErrNoView) {
		return domain.NotFound("no view named %q", name)
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set(PositionHeader, pos.String())
	return c.JSON(http.StatusOK, map[string]any{"name": name, "position": pos.String(), "snapshot": json.RawMessage(raw)})
}
