package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/handlers"
)

// apiError is a problem the admin API answered.
type apiError struct {
	Status int
	Code   string
	Detail string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Detail) }

// call runs one admin API request as the signed-in administrator: with the
// session's access token as bearer, so that the API checks it, decides the
// command and names the administrator's account as the actor of its
// events, exactly as for any integrator's call. It answers the position
// the command reached and the decoded answer (into out, if not nil).
func (c *Console) call(r *http.Request, method, path string, body, out any) (events.Position, error) {
	s := sessionOf(r)
	if s == nil || c.API == nil {
		return events.Position{}, &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Detail: "not signed in"}
	}
	var rd *bytes.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, path, rd)
	if err != nil {
		return events.Position{}, err
	}
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Authorization", "Bearer "+s.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	if id := r.Header.Get("X-Request-Id"); id != "" {
		req.Header.Set("X-Request-Id", id)
	}
	rec := httptest.NewRecorder()
	c.API.ServeHTTP(rec, req)
	if rec.Code >= 300 {
		var p struct {
			Code   string `json:"code"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &p)
		if p.Detail == "" {
			p.Detail = p.Title
		}
		return events.Position{}, &apiError{Status: rec.Code, Code: p.Code, Detail: p.Detail}
	}
	if out != nil && rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			return events.Position{}, err
		}
	}
	var pos events.Position
	if h := rec.Header().Get(handlers.PositionHeader); h != "" {
		pos, _ = events.ParsePosition(h)
	}
	return pos, nil
}
