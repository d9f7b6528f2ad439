package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

func tokenQuery(token string) url.Values { return url.Values{"access_token": {token}} }

// request is one call to the API.
type request struct {
	method string
	path   string
	query  url.Values
	body   []byte
	// retryBusy retries errcode -1; only for requests without a one-time code.
	retryBusy bool
	// retryTransport also retries ErrUnavailable; only for idempotent requests.
	retryTransport bool
	// image expects image bytes on success and JSON only for errors.
	image bool
}

// apiStatus is the errcode part every JSON answer may carry; missing means 0.
type apiStatus struct {
	Errcode int    `json:"errcode"`
	Errmsg  string `json:"errmsg"`
}

// callJSON calls r, retrying as r allows, and decodes the answer into out.
func (c *Client) callJSON(ctx context.Context, r request, out any) error {
	return c.retry(ctx, r, func() error {
		_, err := c.call(ctx, r, out)
		return err
	})
}

// retry runs attempt until it succeeds, fails in a way r does not retry, or runs out.
func (c *Client) retry(ctx context.Context, r request, attempt func() error) error {
	for i := 0; ; i++ {
		err := attempt()
		if err == nil || i >= c.retries || !retryable(r, err) || ctx.Err() != nil {
			return err
		}
		wait := c.backoff << i
		wait += rand.N(wait/2 + 1) // jitter, so replicas do not retry in step
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func retryable(r request, err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return r.retryBusy && e.Temporary()
	}
	return r.retryTransport && errors.Is(err, ErrUnavailable)
}

// call makes one HTTP attempt. A JSON answer is decoded into out (when not nil) and its
// errcode turned into *Error; for image requests the image bytes are returned.
func (c *Client) call(ctx context.Context, r request, out any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()

	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		// The message would quote the URL, which holds secrets; the path is enough.
		return nil, fmt.Errorf("wechat: building request for %s: invalid base URL or method", r.path)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		err = fmt.Errorf("%w: %s: %w", ErrUnavailable, r.path, stripURL(err))
		c.logCall(ctx, r.path, 0, 0, start, err)
		return nil, err
	}
	defer resp.Body.Close()

	limit := int64(maxJSONBody)
	if r.image {
		limit = maxImageBody
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		err = fmt.Errorf("%w: %s: reading the answer: %w", ErrUnavailable, r.path, stripURL(err))
	case int64(len(raw)) > limit:
		err = fmt.Errorf("%w: %s: answer larger than %d bytes", ErrUnavailable, r.path, limit)
	case resp.StatusCode != http.StatusOK:
		err = fmt.Errorf("%w: %s: HTTP status %d", ErrUnavailable, r.path, resp.StatusCode)
	}
	if err != nil {
		c.logCall(ctx, r.path, resp.StatusCode, 0, start, err)
		return nil, err
	}

	if r.image && !isJSON(resp.Header.Get("Content-Type"), raw) {
		c.logCall(ctx, r.path, resp.StatusCode, 0, start, nil)
		return raw, nil
	}
	// The status is decoded on its own so a retry never sees an errcode left in out by
	// the previous attempt.
	var st apiStatus
	err = json.Unmarshal(raw, &st)
	if err == nil && out != nil {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		err = fmt.Errorf("%w: %s: answer is not the expected JSON", ErrUnavailable, r.path)
		c.logCall(ctx, r.path, resp.StatusCode, 0, start, err)
		return nil, err
	}
	if st.Errcode != 0 {
		err = &Error{Code: st.Errcode, Msg: st.Errmsg}
	} else if r.image {
		err = fmt.Errorf("%w: %s: JSON without errcode instead of an image", ErrUnavailable, r.path)
	}
	c.logCall(ctx, r.path, resp.StatusCode, st.Errcode, start, err)
	return nil, err
}

// isJSON tells an error answer from an image: WeChat sends errors of image endpoints as
// JSON, sometimes with a loose content type.
func isJSON(contentType string, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/json" || mt == "text/plain" {
		return true
	}
	return !strings.HasPrefix(mt, "image/") && len(bytes.TrimSpace(body)) > 0 && bytes.TrimSpace(body)[0] == '{'
}

// stripURL drops the URL from net/http's errors: it holds the secret or access token.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// logCall logs one attempt by path and errcode only.
func (c *Client) logCall(ctx context.Context, path string, status, errcode int, start time.Time, err error) {
	level := slog.LevelDebug
	attrs := []slog.Attr{
		slog.String("path", path),
		slog.Int("status", status),
		slog.Int("errcode", errcode),
		slog.Duration("took", time.Since(start)),
	}
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	c.log.LogAttrs(ctx, level, "wechat call", attrs...)
}
