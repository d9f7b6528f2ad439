package wechat

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// refreshMargin is how long before expiry a cached token is replaced, so a call never
// starts with a token about to die. The stable-token endpoint renews in the same window.
const refreshMargin = 5 * time.Minute

// cachedToken is an access token and when to stop using it.
type cachedToken struct {
	value     string
	refreshAt time.Time
}

// flight is one token fetch in progress; callers for the same appid wait for it rather
// than each asking WeChat (singleflight).
type flight struct {
	done  chan struct{}
	value string
	err   error
}

// withToken runs fn with the app's access token. If WeChat rejects the token (40001,
// 40014, 42001) it fetches a fresh one and runs fn once more: those errcodes come before
// WeChat looks at the rest of the request, so repeating it is safe.
func withToken[T any](ctx context.Context, c *Client, cred Credentials, fn func(token string) (T, error)) (T, error) {
	token, err := c.accessToken(ctx, cred, "")
	if err != nil {
		var zero T
		return zero, err
	}
	out, err := fn(token)
	if !isTokenRejected(err) {
		return out, err
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "wechat access token rejected; refreshing", slog.String("appid", cred.AppID))
	token, err = c.accessToken(ctx, cred, token)
	if err != nil {
		var zero T
		return zero, err
	}
	return fn(token)
}

// accessToken returns a usable token for the app. rejected, if set, is a token WeChat
// just refused: it is dropped from the cache and never handed out again.
func (c *Client) accessToken(ctx context.Context, cred Credentials, rejected string) (string, error) {
	c.mu.Lock()
	if t, ok := c.tokens[cred.AppID]; ok {
		if t.value != rejected && c.now().Before(t.refreshAt) {
			c.mu.Unlock()
			return t.value, nil
		}
		if t.value == rejected {
			delete(c.tokens, cred.AppID)
		}
	}
	f, running := c.flights[cred.AppID]
	if !running {
		f = &flight{done: make(chan struct{})}
		c.flights[cred.AppID] = f
		// The fetch outlives a caller that gives up, so the others waiting on it (and
		// the cache) still get the token.
		go c.fetch(context.WithoutCancel(ctx), cred, rejected, f)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.value, f.err
	case <-ctx.Done():
		return "", fmt.Errorf("%w: waiting for an access token: %w", ErrUnavailable, ctx.Err())
	}
}

// fetch asks /cgi-bin/stable_token for the app's token and caches it. The stable token is
// the same for every replica that asks, so replicas do not invalidate each other's
// tokens the way /cgi-bin/token would.
func (c *Client) fetch(ctx context.Context, cred Credentials, rejected string, f *flight) {
	tok, err := c.stableToken(ctx, cred, false)
	if err == nil && tok.value == rejected {
		// WeChat still hands out the token it refuses (its state is confused or another
		// party forced a refresh at the same moment): force a new one.
		tok, err = c.stableToken(ctx, cred, true)
	}

	c.mu.Lock()
	if err == nil {
		c.tokens[cred.AppID] = tok
	}
	delete(c.flights, cred.AppID)
	c.mu.Unlock()

	f.value, f.err = tok.value, err
	close(f.done)
}

func (c *Client) stableToken(ctx context.Context, cred Credentials, force bool) (cachedToken, error) {
	body, err := json.Marshal(map[string]any{
		"grant_type":    "client_credential",
		"appid":         cred.AppID,
		"secret":        cred.Secret,
		"force_refresh": force,
	})
	if err != nil {
		return cachedToken{}, err
	}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	r := request{
		method:    http.MethodPost,
		path:      "/cgi-bin/stable_token",
		body:      body,
		retryBusy: true,
		// Asking for the current token is idempotent; forcing a new one is not.
		retryTransport: !force,
	}
	now := c.now()
	if err := c.callJSON(ctx, r, &out); err != nil {
		return cachedToken{}, err
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return cachedToken{}, fmt.Errorf("%w: /cgi-bin/stable_token answered without a token", ErrUnavailable)
	}
	life := time.Duration(out.ExpiresIn) * time.Second
	// Near the end of a token's life WeChat may hand out the same token with little time
	// left; half of what remains then keeps the client from asking on every call.
	margin := min(refreshMargin, life/2)
	return cachedToken{value: out.AccessToken, refreshAt: now.Add(life - margin)}, nil
}
