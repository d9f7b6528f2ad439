package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// benchClient talks to the server and to wxsim over keep-alive connections.
type benchClient struct {
	cfg  benchConfig
	http *http.Client
}

func newBenchClient(cfg benchConfig) *benchClient {
	conns := max(cfg.concurrency, 16) * 2
	tr := &http.Transport{
		MaxIdleConns: 2 * conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
		DisableCompression: true, ForceAttemptHTTP2: false,
	}
	return &benchClient{cfg: cfg, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// benchProblem is the part of an RFC 9457 answer the bench reads.
type benchProblem struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// benchError is a non-2xx answer (or a transport failure: Status 0).
type benchError struct {
	Status int
	Code   string
	Detail string
}

func (e *benchError) Error() string {
	if e.Status == 0 {
		return "transport: " + e.Detail
	}
	if e.Code != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Detail)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Detail)
}

// key groups errors for the report: "429 rate_limited", "transport".
func (e *benchError) key() string {
	if e.Status == 0 {
		return "transport"
	}
	if e.Code == "" {
		return fmt.Sprintf("%d", e.Status)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Code)
}

// call sends body as JSON (nil: no body) and decodes a 2xx answer into
// out; other answers are a *benchError.
func (b *benchClient) call(ctx context.Context, method, u, token string, body, out any) (http.Header, error) {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, &benchError{Detail: err.Error()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &benchError{Detail: err.Error()}
	}
	if resp.StatusCode/100 != 2 {
		var p benchProblem
		_ = json.Unmarshal(data, &p)
		if p.Code == "" && p.Detail == "" {
			// wxsim's control API answers {"error": "..."}.
			var ce simError
			_ = json.Unmarshal(data, &ce)
			p.Detail = ce.Error
		}
		return nil, &benchError{Status: resp.StatusCode, Code: p.Code, Detail: p.Detail}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("%s %s: decoding the answer: %w", method, u, err)
		}
	}
	return resp.Header, nil
}

type simError struct {
	Error string `json:"error"`
}

func (b *benchClient) sim(ctx context.Context, path string, body, out any) error {
	_, err := b.call(ctx, http.MethodPost, b.cfg.wxsim+path, "", body, out)
	if err != nil {
		return fmt.Errorf("wxsim %s: %w", path, err)
	}
	return nil
}

func (b *benchClient) admin(ctx context.Context, method, path string, body, out any) (http.Header, error) {
	h, err := b.call(ctx, method, b.cfg.url+path, b.cfg.token, body, out)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return h, nil
}

// loginAnswer is the part of a login, bind or register answer the bench reads.
type loginAnswer struct {
	Status     string `json:"status"`
	AccountID  string `json:"account_id"`
	IDToken    string `json:"id_token"`
	BindTicket string `json:"bind_ticket"`
}

// replica is the base URL of the replica that client (or item) i uses.
func (b *benchClient) replica(i int) string { return b.cfg.urls[i%len(b.cfg.urls)] }

// login posts one wx.login code to the replica at base.
func (b *benchClient) login(ctx context.Context, base, app, code string) (loginAnswer, error) {
	var ans loginAnswer
	_, err := b.call(ctx, http.MethodPost, base+"/v1/apps/"+url.PathEscape(app)+"/login/code", "", map[string]string{"code": code}, &ans)
	return ans, err
}
