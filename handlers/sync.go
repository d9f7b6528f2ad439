package handlers

import (
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
)

// syncAccountsPath is the bulk sync route. Its body is streamed: it is the
// one route exempt from the 1 MiB body limit (streamedBody), bounded per
// line and in total by accountsync.Service instead.
const syncAccountsPath = "/v1/apps/:app/sync/accounts"

func (s *Server) syncRoutes(e *echo.Echo) {
	if s.Sync == nil || s.Apps == nil {
		return
	}
	e.POST(syncAccountsPath, s.syncAccounts, s.admin)
}

// streamedBody tells the body limit which routes read their body as a
// stream with limits of their own.
func streamedBody(c echo.Context) bool { return c.Path() == syncAccountsPath }

// syncAccounts upserts the NDJSON records of the body by external_id and
// answers {created, updated, unchanged, failed: [{line, code, message}]}.
func (s *Server) syncAccounts(c echo.Context) error {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || (mt != "application/x-ndjson" && mt != "application/ndjson") {
		return &domain.Error{Kind: domain.KindUnsupported, Code: "unsupported_media_type", Message: "send one JSON object per line with Content-Type: application/x-ndjson"}
	}
	ctx := c.Request().Context()
	a, err := s.Apps.Get(ctx, c.Param("app"))
	if err != nil {
		return err
	}
	// A big file takes longer than the server's read timeout: the body is
	// read as fast as its records are stored, so lift the deadline.
	_ = http.NewResponseController(c.Response()).SetReadDeadline(time.Time{})
	report, pos, err := s.Sync.Run(ctx, s.adminMeta(c), a, c.Request().Body)
	if err != nil && ctx.Err() != nil {
		// The client went away: nobody reads this answer, and it is no
		// internal error either.
		return domain.New(domain.KindValidation, "incomplete_body", "the request ended before the sync did")
	}
	if err != nil {
		return err
	}
	return commandJSON(c, http.StatusOK, pos, report)
}
