// Package wechat is Bindery's client for the WeChat server API (code2session, phone
// numbers, mini program codes), with an access-token cache per appid. It knows only a
// base URL, so the same code talks to api.weixin.qq.com and to the wxsim simulator.
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
	"sync"
	"time"
)

// DefaultBaseURL is the real WeChat API.
const DefaultBaseURL = "https://api.weixin.qq.com"

const (
	defaultTimeout = 5 * time.Second
	defaultRetries = 2
	defaultBackoff = 200 * time.Millisecond
	maxJSONBody    = 1 << 20
	maxImageBody   = 8 << 20
)

// ErrUnavailable reports that WeChat could not be asked or did not answer sensibly: a
// transport failure, a timeout, a non-200 status or a body that is not the expected JSON.
// Errors wrap it; test with errors.Is.
var ErrUnavailable = errors.New("wechat: unavailable")

// ErrWatermark reports a phone number whose watermark names another app than the one
// asking, which means the answer cannot be trusted for this app.
var ErrWatermark = errors.New("wechat: phone number watermark names another app")

// Error is an errcode answer from WeChat.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("wechat: errcode %d: %s", e.Code, e.Msg) }

// Temporary reports whether WeChat called itself busy (-1): the same request may work
// later. A request that carried a one-time code must still not be repeated with it.
func (e *Error) Temporary() bool { return e.Code == -1 }

func hasCode(err error, codes ...int) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if e.Code == c {
			return true
		}
	}
	return false
}

// IsInvalidCode reports errcode 40029: the code is unknown, expired or another app's.
func IsInvalidCode(err error) bool { return hasCode(err, 40029) }

// IsCodeUsed reports errcode 40163: the js_code was already exchanged (a replay).
func IsCodeUsed(err error) bool { return hasCode(err, 40163) }

// IsRateLimited reports errcode 45011: more than the per-minute quota.
func IsRateLimited(err error) bool { return hasCode(err, 45011) }

// IsBadCredentials reports errcode 40013 or 40125: the app's appid or secret is wrong,
// a configuration problem rather than a user's.
func IsBadCredentials(err error) bool { return hasCode(err, 40013, 40125) }

// isTokenRejected reports the errcodes after which a fresh access token may help.
func isTokenRejected(err error) bool { return hasCode(err, 40001, 40014, 42001) }

// Credentials identify a mini program to WeChat.
type Credentials struct {
	AppID  string
	Secret string
}

// String hides the secret, so credentials can be printed by accident without harm.
func (c Credentials) String() string { return "Credentials{AppID: " + c.AppID + ", Secret: [hidden]}" }

// GoString hides the secret from %#v too.
func (c Credentials) GoString() string { return c.String() }

// LogValue hides the secret from slog.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.AppID) }

// Session is what code2session tells about a user of a mini program.
type Session struct {
	OpenID  string
	UnionID string // empty unless the app is bound to an open platform
	// SessionKey is a server secret: never send it to a client, a log or an event.
	SessionKey string
}

// String hides the session key.
func (s Session) String() string {
	return fmt.Sprintf("Session{OpenID: %s, UnionID: %s, SessionKey: [hidden]}", s.OpenID, s.UnionID)
}

// GoString hides the session key from %#v too.
func (s Session) GoString() string { return s.String() }

// LogValue hides the session key from slog.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("openid", s.OpenID), slog.String("unionid", s.UnionID))
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client. Each attempt is still bounded by the client's
// timeout (WithTimeout).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithLogger sets where calls are logged (path, errcode, status; never URLs or secrets).
// The default discards.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithClock sets the clock the token cache runs on.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithRetry sets how many times a retryable failure is retried (max, 0 for never) and
// the first backoff, which doubles each time.
func WithRetry(max int, backoff time.Duration) Option {
	return func(c *Client) { c.retries, c.backoff = max, backoff }
}

// WithTimeout bounds each HTTP attempt (default 5 s).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// Client calls the WeChat API. It is safe for concurrent use; create one per process so
// the access-token cache is shared.
type Client struct {
	base    string
	hc      *http.Client
	log     *slog.Logger
	now     func() time.Time
	retries int
	backoff time.Duration
	timeout time.Duration

	mu      sync.Mutex
	tokens  map[string]cachedToken
	flights map[string]*flight
}

// New returns a client for the API at baseURL, such as DefaultBaseURL or a wxsim address.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		base:    strings.TrimRight(baseURL, "/"),
		hc:      &http.Client{Timeout: defaultTimeout, Transport: newTransport()},
		log:     slog.New(slog.DiscardHandler),
		now:     time.Now,
		retries: defaultRetries,
		backoff: defaultBackoff,
		timeout: defaultTimeout,
		tokens:  map[string]cachedToken{},
		flights: map[string]*flight{},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Idle connections kept to the API. Every login calls code2session, so
// under load as many calls are in flight as logins; http.DefaultTransport
// keeps 2 idle connections per host, and the others would be closed after
// each call and dialled again (a TCP and TLS handshake per login, and
// thousands of sockets in TIME_WAIT).
const (
	maxIdleConns        = 256
	maxIdleConnsPerHost = 128
)

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = maxIdleConns
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	return t
}

// Code2Session exchanges a wx.login code for the user's identity in the app. The code is
// sent at most once: not after an error, not after a transport failure (it may have been
// consumed), so callers ask the mini program for a new code instead.
func (c *Client) Code2Session(ctx context.Context, cred Credentials, jsCode string) (Session, error) {
	if jsCode == "" {
		return Session{}, &Error{Code: 41008, Msg: "missing code"}
	}
	q := url.Values{
		"appid":      {cred.AppID},
		"secret":     {cred.Secret},
		"js_code":    {jsCode},
		"grant_type": {"authorization_code"},
	}
	var out struct {
		OpenID     string `json:"openid"`
		SessionKey string `json:"session_key"`
		UnionID    string `json:"unionid"`
	}
	if err := c.callJSON(ctx, request{method: http.MethodGet, path: "/sns/jscode2session", query: q}, &out); err != nil {
		return Session{}, err
	}
	if out.OpenID == "" || out.SessionKey == "" {
		return Session{}, fmt.Errorf("%w: /sns/jscode2session answered without openid or session_key", ErrUnavailable)
	}
	return Session{OpenID: out.OpenID, UnionID: out.UnionID, SessionKey: out.SessionKey}, nil
}

// Phone is a user's phone number as WeChat verified it.
type Phone struct {
	E164            string // "+8613800138000"
	PurePhoneNumber string // without the country calling code
	CountryCode     string // "86"
}

// PhoneNumber exchanges a phone-number button code for the number. The code is sent
// once; only an access-token rejection, which WeChat gives before looking at the code,
// makes it go again with a fresh token.
func (c *Client) PhoneNumber(ctx context.Context, cred Credentials, code string) (Phone, error) {
	if code == "" {
		return Phone{}, &Error{Code: 40029, Msg: "missing code"}
	}
	body, err := json.Marshal(map[string]string{"code": code})
	if err != nil {
		return Phone{}, err
	}
	return withToken(ctx, c, cred, func(token string) (Phone, error) {
		var out struct {
			PhoneInfo struct {
				PhoneNumber     string     `json:"phoneNumber"`
				PurePhoneNumber string     `json:"purePhoneNumber"`
				CountryCode     flexString `json:"countryCode"`
				Watermark       struct {
					AppID string `json:"appid"`
				} `json:"watermark"`
			} `json:"phone_info"`
		}
		req := request{method: http.MethodPost, path: "/wxa/business/getuserphonenumber", query: tokenQuery(token), body: body}
		if err := c.callJSON(ctx, req, &out); err != nil {
			return Phone{}, err
		}
		info := out.PhoneInfo
		if info.Watermark.AppID != cred.AppID {
			return Phone{}, ErrWatermark
		}
		cc, pure := string(info.CountryCode), info.PurePhoneNumber
		if !digits(cc) || !digits(pure) {
			return Phone{}, fmt.Errorf("%w: getuserphonenumber answered without a usable number", ErrUnavailable)
		}
		return Phone{E164: "+" + cc + pure, PurePhoneNumber: pure, CountryCode: cc}, nil
	})
}

// QRCodeRequest describes a mini program code (wxacode.getUnlimited).
type QRCodeRequest struct {
	Scene      string // 1-32 characters from 0-9A-Za-z!#$&'()*+,/:;=?@-._~
	Page       string // no leading "/", no query; empty means the home page
	CheckPath  bool   // ask WeChat to check that Page exists in the published version
	EnvVersion string // "release" (default), "trial" or "develop"
	Width      int    // pixels, 280-1280; 0 means 430
}

// UnlimitedQRCode returns the JPEG image of a mini program code that opens Page with
// Scene. It has no one-time input, so -1 answers are retried.
func (c *Client) UnlimitedQRCode(ctx context.Context, cred Credentials, req QRCodeRequest) ([]byte, error) {
	body, err := json.Marshal(struct {
		Scene      string `json:"scene"`
		Page       string `json:"page,omitempty"`
		CheckPath  bool   `json:"check_path"`
		EnvVersion string `json:"env_version,omitempty"`
		Width      int    `json:"width,omitempty"`
	}{req.Scene, req.Page, req.CheckPath, req.EnvVersion, req.Width})
	if err != nil {
		return nil, err
	}
	return withToken(ctx, c, cred, func(token string) ([]byte, error) {
		r := request{method: http.MethodPost, path: "/wxa/getwxacodeunlimit", query: tokenQuery(token), body: body, retryBusy: true, image: true}
		var img []byte
		err := c.retry(ctx, r, func() error {
			var err error
			img, err = c.call(ctx, r, nil)
			return err
		})
		return img, err
	})
}

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

// flexString accepts a JSON string or number: WeChat's docs show countryCode both ways.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
