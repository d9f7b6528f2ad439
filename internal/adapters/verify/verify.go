// Package verify calls a customer's account API (an app's account source
// in "verify" mode): it POSTs {"username", "password"} or {"uid"} signed
// with X-Bindery-Signature: sha256=<hex HMAC-SHA256 of the body>, and reads
// 200 {"external_id", "display_name", "phone"?, "email"?, "roles"?,
// "orgs"?} or 401. Each call is bounded by a timeout, and a circuit
// breaker per URL stops calling an API that keeps failing, for a while.
package verify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Errors of a call; compare with errors.Is.
var (
	// ErrRejected is the customer's 401: wrong credentials, or no such user.
	ErrRejected = errors.New("verify: the account API rejected the credentials")
	// ErrUnavailable is anything else: down, slow, an unexpected status or
	// answer, or the breaker is open.
	ErrUnavailable = errors.New("verify: the account API is unavailable")
)

// Answer is what the customer's API says about a verified user.
type Answer struct {
	ExternalID  string   `json:"external_id"`
	DisplayName string   `json:"display_name"`
	Phone       string   `json:"phone,omitempty"`
	Email       string   `json:"email,omitempty"`
	Roles       []string `json:"roles,omitempty"`
	Orgs        []string `json:"orgs,omitempty"`
}

// Breaker settings.
const (
	breakAfter  = 5                // consecutive failures that open the breaker
	breakFor    = 30 * time.Second // how long it stays open
	maxAnswer   = 64 << 10
	maxListSize = 100
)

// Client calls account APIs. It is safe for concurrent use.
type Client struct {
	hc      *http.Client
	timeout time.Duration
	now     func() time.Time

	mu       sync.Mutex
	breakers map[string]*breaker
}

type breaker struct {
	fails     int
	openUntil time.Time
}

// New returns a client whose calls time out after timeout (default 5 s).
func New(hc *http.Client, timeout time.Duration) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Client{hc: hc, timeout: timeout, now: time.Now, breakers: map[string]*breaker{}}
}

// Password asks whether username and password are right.
func (c *Client) Password(ctx context.Context, endpoint, secret, username, password string) (Answer, error) {
	return c.call(ctx, endpoint, secret, map[string]string{"username": username, "password": password})
}

// HostUser asks who the host app's user uid is.
func (c *Client) HostUser(ctx context.Context, endpoint, secret, uid string) (Answer, error) {
	return c.call(ctx, endpoint, secret, map[string]string{"uid": uid})
}

// Sign is the X-Bindery-Signature value of body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (c *Client) call(ctx context.Context, endpoint, secret string, payload map[string]string) (Answer, error) {
	if !c.allow(endpoint) {
		return Answer{}, fmt.Errorf("%w: circuit open after repeated failures", ErrUnavailable)
	}
	ans, err := c.do(ctx, endpoint, secret, payload)
	c.record(endpoint, err == nil || errors.Is(err, ErrRejected))
	return ans, err
}

func (c *Client) do(ctx context.Context, endpoint, secret string, payload map[string]string) (Answer, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return Answer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Answer{}, fmt.Errorf("%w: bad URL", ErrUnavailable)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Bindery-Signature", Sign(secret, body))
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Answer{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	switch {
	case err != nil:
		return Answer{}, fmt.Errorf("%w: reading the answer: %w", ErrUnavailable, err)
	case resp.StatusCode == http.StatusUnauthorized:
		return Answer{}, ErrRejected
	case resp.StatusCode != http.StatusOK:
		return Answer{}, fmt.Errorf("%w: HTTP %d", ErrUnavailable, resp.StatusCode)
	case len(raw) > maxAnswer:
		return Answer{}, fmt.Errorf("%w: answer too large", ErrUnavailable)
	}
	var ans Answer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return Answer{}, fmt.Errorf("%w: answer is not the expected JSON", ErrUnavailable)
	}
	if ans.ExternalID == "" || len(ans.ExternalID) > 256 || len(ans.Roles) > maxListSize || len(ans.Orgs) > maxListSize {
		return Answer{}, fmt.Errorf("%w: answer without a usable external_id", ErrUnavailable)
	}
	return ans, nil
}

func (c *Client) allow(endpoint string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.breakers[endpoint]
	// Open: refuse until the time is up, then let calls try again (the
	// first failure re-opens it, as the count is still at the limit).
	return b == nil || !c.now().Before(b.openUntil)
}

func (c *Client) record(endpoint string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.breakers[endpoint]
	if ok {
		delete(c.breakers, endpoint)
		return
	}
	if b == nil {
		b = &breaker{}
		c.breakers[endpoint] = b
	}
	b.fails++
	if b.fails >= breakAfter {
		b.openUntil = c.now().Add(breakFor)
	}
}
