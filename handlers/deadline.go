package handlers

import (
	"context"
	"strings"

	"github.com/labstack/echo/v4"
)

// deadline gives each request a context deadline of RequestTimeout, so that
// a store that stops answering (a partition, a leader election) ends in a
// 503 with Retry-After rather than a request that hangs. A QR long-poll
// gets its ?wait on top; event streams, bulk syncs, audit exports and the
// console's pages (which stream or run long by design) get none.
func (s *Server) deadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := c.Request().URL.Path
		if strings.HasSuffix(p, "/events") || strings.Contains(p, "/sync/") || strings.HasPrefix(p, "/v1/audit") || strings.HasPrefix(p, "/console") {
			return next(c)
		}
		d := s.RequestTimeout
		if strings.HasPrefix(p, "/v1/qr/") {
			if wait, err := waitParam(c); err == nil {
				d += wait
			}
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), d)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}
