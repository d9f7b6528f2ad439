package handlers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/projections"
)

// Problem is an RFC 9457 problem details body with Bindery's stable code.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Code      string `json:"code"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// ProblemTypeBase prefixes the type URI of each problem code.
const ProblemTypeBase = "https://bindery.dev/problems/"

var kindStatus = map[domain.Kind]int{
	domain.KindValidation:   http.StatusBadRequest,
	domain.KindUnauthorized: http.StatusUnauthorized,
	domain.KindForbidden:    http.StatusForbidden,
	domain.KindNotFound:     http.StatusNotFound,
	domain.KindConflict:     http.StatusConflict,
	domain.KindGone:         http.StatusGone,
	domain.KindTooLarge:     http.StatusRequestEntityTooLarge,
	domain.KindRateLimited:  http.StatusTooManyRequests,
	domain.KindUnavailable:  http.StatusServiceUnavailable,
	domain.KindTimeout:      http.StatusGatewayTimeout,
	domain.KindUnsupported:  http.StatusUnsupportedMediaType,
	domain.KindBadGateway:   http.StatusBadGateway,
}

// ProblemOf is the problem and HTTP status of an error, as the API answers
// it (the console's error pages use it too).
func ProblemOf(err error) (*domain.Error, int) { return toProblem(err) }

// toProblem is the one place where an error becomes an HTTP answer.
func toProblem(err error) (*domain.Error, int) { return problemOf(err, nil) }

// storeDown is the answer when the store could not be reached or
// did not answer in time: a replica cut off from NATS, a stream electing
// its leader. The client may try again (Retry-After), here or elsewhere.
func storeDown() *domain.Error {
	return domain.New(domain.KindUnavailable, "store_unavailable", "the event store is not reachable right now: try again")
}

// problemOf is toProblem with the server's classifier of store errors.
func problemOf(err error, unavailable func(error) bool) (*domain.Error, int) {
	var de *domain.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &de):
		return de, kindStatus[de.Kind]
	case errors.As(err, &he):
		msg := http.StatusText(he.Code)
		if s, ok := he.Message.(string); ok && s != "" {
			msg = s
		}
		code := map[int]string{
			http.StatusNotFound:              "not_found",
			http.StatusMethodNotAllowed:      "method_not_allowed",
			http.StatusRequestEntityTooLarge: "body_too_large",
			http.StatusUnsupportedMediaType:  "unsupported_media_type",
			http.StatusUnauthorized:          "unauthorized",
			http.StatusForbidden:             "forbidden",
			http.StatusTooManyRequests:       "rate_limited",
			http.StatusServiceUnavailable:    "unavailable",
		}[he.Code]
		if code == "" {
			if he.Code >= 500 {
				return &domain.Error{Code: "internal_error", Message: "internal error"}, http.StatusInternalServerError
			}
			code = "validation_failed"
		}
		return &domain.Error{Code: code, Message: msg}, he.Code
	case errors.Is(err, events.ErrConflict), errors.Is(err, events.ErrTooManyConflicts):
		return domain.Conflict("the resource was changed concurrently; try again"), http.StatusConflict
	case errors.Is(err, events.ErrChainBroken):
		return usecase.ChainBroken(err), http.StatusServiceUnavailable
	case errors.Is(err, projections.ErrNotReached):
		// This replica's views lag (or it lost the store): another replica,
		// or this one a little later, can answer.
		return domain.New(domain.KindUnavailable, "position_not_reached", "the views did not reach the requested position in time: try again"), http.StatusServiceUnavailable
	case unavailable != nil && unavailable(err):
		return storeDown(), http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		// The request's deadline (Deps.RequestTimeout) passed, waiting for
		// the store: unavailable, not a server fault.
		return storeDown(), http.StatusServiceUnavailable
	case errors.Is(err, events.ErrBadPosition):
		return domain.Invalid("min_position: not a position token"), http.StatusBadRequest
	}
	return &domain.Error{Code: "internal_error", Message: "internal error"}, http.StatusInternalServerError
}

// errorHandler renders every error as application/problem+json.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	de, status := problemOf(err, s.StoreUnavailable)
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status >= 500 && (de.Code == "internal_error" || de.Code == "chain_broken") {
		s.log.Error("request failed", "err", err, "path", c.Request().URL.Path, "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	if de.Code == "store_unavailable" {
		// What the store answered (a timeout, no responders, a stream
		// without a leader) is what an operator needs to see in an outage.
		s.log.Warn("store unavailable", "err", err, "path", c.Request().URL.Path, "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	if securityCodes[de.Code] {
		s.securityEvent(c, de.Code, status)
	}
	if de.Kind == domain.KindRateLimited && de.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(de.RetryAfter.Seconds()+0.999)))
	}
	// Every 503 but a broken chain (which waiting does not mend) may be
	// retried: a store failover takes seconds.
	if status == http.StatusServiceUnavailable && de.Code != "chain_broken" && c.Response().Header().Get("Retry-After") == "" {
		c.Response().Header().Set("Retry-After", "1")
	}
	if status == http.StatusUnauthorized && c.Response().Header().Get("WWW-Authenticate") == "" {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="bindery"`)
	}
	p := Problem{
		Type: ProblemTypeBase + de.Code, Title: http.StatusText(status), Status: status, Detail: de.Message,
		Code: de.Code, Instance: c.Request().URL.Path, RequestID: c.Response().Header().Get(echo.HeaderXRequestID),
	}
	body, _ := json.Marshal(p)
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(status)
	if c.Request().Method != http.MethodHead {
		_, _ = c.Response().Write(body)
	}
}

// bind decodes a JSON body strictly: JSON content type, one object, no
// unknown fields, no key twice in an object, types as declared. Every
// failure is validation_failed, except a body over the limit (sent with a
// Content-Length or chunked): 413 body_too_large.
func bind(c echo.Context, v any) error {
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &domain.Error{Kind: domain.KindUnsupported, Code: "unsupported_media_type", Message: "send a JSON body with Content-Type: application/json"}
		}
	}
	data, err := io.ReadAll(req.Body)
	if err != nil {
		if isTooLarge(err) {
			return decodeError(err)
		}
		return domain.Invalid("the body could not be read")
	}
	return decodeStrict(data, v)
}

// decodeStrict decodes one JSON object from data into v (bind's rules).
func decodeStrict(data []byte, v any) error {
	// Every body is a JSON object: a bare null would decode into nothing.
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] != '{' {
		return domain.Invalid("the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return domain.Invalid("the body must hold exactly one JSON value")
	}
	if key, dup := duplicateKey(data); dup {
		return domain.Invalid("key %q appears twice in one object", key)
	}
	return nil
}

// duplicateKey finds a key given twice in one object of a well-formed
// JSON document (encoding/json would silently keep the last).
func duplicateKey(data []byte) (string, bool) {
	type frame struct {
		obj, wantKey bool
		keys         map[string]struct{}
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				stack = append(stack, &frame{obj: d == '{', wantKey: d == '{', keys: map[string]struct{}{}})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
			top := stack[n-1]
			key, _ := tok.(string)
			if _, seen := top.keys[key]; seen {
				return key, true
			}
			top.keys[key] = struct{}{}
			top.wantKey = false
			continue
		}
		valueDone()
	}
}

// noBody accepts an empty body or an empty JSON object, for commands that
// take no input; anything else is a validation_failed like any bad body.
func noBody(c echo.Context) error {
	r := bufio.NewReader(c.Request().Body)
	if _, err := r.Peek(1); errors.Is(err, io.EOF) {
		return nil
	}
	c.Request().Body = io.NopCloser(r)
	var none struct{}
	return bind(c, &none)
}

// isTooLarge recognises a body over the limit: http.MaxBytesReader's
// error, or the one of Echo's body limit on a chunked body.
func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	var he *echo.HTTPError
	return errors.As(err, &mbe) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge)
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case isTooLarge(err):
		return domain.New(domain.KindTooLarge, "body_too_large", "the body is larger than 1 MiB")
	case errors.Is(err, io.EOF):
		return domain.Invalid("the body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return domain.Invalid("the JSON body ends too early")
	case errors.As(err, &syn):
		return domain.Invalid("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return domain.Invalid("the body must be a JSON %s", jsonKind(typ.Type.Kind().String()))
		}
		return domain.Invalid("field %q: expected %s, got %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return domain.Invalid("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return domain.Invalid("invalid JSON body: %s", err.Error())
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	case "ptr":
		return "value"
	}
	return "number"
}

// validationf is shorthand for handlers.
func validationf(format string, args ...any) error { return domain.Invalid(format, args...) }
