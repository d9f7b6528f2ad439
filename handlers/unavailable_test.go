package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/projections"
)

// A store that cannot be reached, a request past its deadline and views
// that do not reach a position are 503 with Retry-After (issue 14: never a
// 500 during a fault); a broken chain stays a 503 without one, and an
// unknown error stays internal_error.
func TestUnavailableAnswers(t *testing.T) {
	s := New(Deps{StoreUnavailable: bjs.IsUnavailable})
	for _, c := range []struct {
		err   error
		code  string
		retry bool
		want  int
	}{
		{fmt.Errorf("jetstream: publish: %w", nats.ErrTimeout), "store_unavailable", true, 503},
		{fmt.Errorf("load: %w", nats.ErrNoResponders), "store_unavailable", true, 503},
		{fmt.Errorf("append: %w", context.DeadlineExceeded), "store_unavailable", true, 503},
		{projections.ErrNotReached, "position_not_reached", true, 503},
		{events.ErrChainBroken, "chain_broken", false, 503},
		{errors.New("something else"), "internal_error", false, 500},
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/register", nil)
		rec := httptest.NewRecorder()
		s.errorHandler(c.err, s.e.NewContext(req, rec))
		if rec.Code != c.want || (rec.Header().Get("Retry-After") != "") != c.retry {
			t.Errorf("%v: %d Retry-After %q, want %d retry %v", c.err, rec.Code, rec.Header().Get("Retry-After"), c.want, c.retry)
		}
		if de, _ := problemOf(c.err, s.StoreUnavailable); de.Code != c.code {
			t.Errorf("%v: code %q, want %q", c.err, de.Code, c.code)
		}
	}
}
