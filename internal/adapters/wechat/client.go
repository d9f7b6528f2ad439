// Package wechat is Bindery's client for the WeChat server API (code2session, phone
// numbers, mini program codes), with an access-token cache per appid. It knows only a
// base URL, so the same code talks to api.weixin.qq.com and to the wxsim simulator.
package wechat

import (
	"log/slog"
	"net/http"
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
		base: strings.TrimRight(baseURL, "/"),
		// No client-wide timeout: each attempt's context carries c.timeout
		// (call.go), so that WithTimeout alone sets the bound.
		hc:      &http.Client{Transport: newTransport()},
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
