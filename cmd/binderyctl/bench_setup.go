package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchApp is the app under test as wxsim knows it.
type benchApp struct {
	id, appid string
}

func benchHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// setupApp creates a bench app at wxsim and on the server, or reads the
// one --app names.
func (b *benchClient) setupApp(ctx context.Context) (benchApp, error) {
	if _, err := b.call(ctx, http.MethodGet, b.cfg.wxsim+"/sim/health", "", nil, nil); err != nil {
		return benchApp{}, fmt.Errorf("wxsim at %s: %w", b.cfg.wxsim, err)
	}
	type appView struct {
		Kind   string `json:"kind"`
		WeChat *struct {
			AppID string `json:"appid"`
		} `json:"wechat"`
		OnNoMatch string `json:"on_no_match"`
	}
	if b.cfg.app != "" {
		var v appView
		if _, err := b.admin(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(b.cfg.app), nil, &v); err != nil {
			return benchApp{}, err
		}
		if v.Kind != "wechat" || v.WeChat == nil {
			return benchApp{}, fmt.Errorf("--app %s is of kind %q: the bench logs in with wx.login codes (kind wechat)", b.cfg.app, v.Kind)
		}
		if v.OnNoMatch != "register" {
			return benchApp{}, fmt.Errorf("--app %s has on_no_match %q: the bench registers its users (on_no_match register)", b.cfg.app, v.OnNoMatch)
		}
		return benchApp{id: b.cfg.app, appid: v.WeChat.AppID}, nil
	}
	suffix := benchHex(4)
	a := benchApp{id: "bench-" + suffix, appid: "wxbench" + suffix}
	secret := benchHex(16)
	if err := b.sim(ctx, "/sim/apps", map[string]string{"appid": a.appid, "secret": secret}, nil); err != nil {
		return benchApp{}, err
	}
	body := map[string]any{
		"name": "login bench " + suffix, "kind": "wechat",
		"wechat":      map[string]string{"appid": a.appid, "secret": secret},
		"match_rules": []string{"openid"}, "on_no_match": "register",
	}
	h, err := b.admin(ctx, http.MethodPut, "/v1/apps/"+a.id, body, nil)
	if err != nil {
		return benchApp{}, err
	}
	// Wait until every replica's views know the app.
	for _, base := range b.cfg.urls {
		if _, err := b.call(ctx, http.MethodGet, base+"/v1/apps/"+a.id+"?min_position="+url.QueryEscape(h.Get("X-Bindery-Position")), b.cfg.token, nil, nil); err != nil {
			return benchApp{}, fmt.Errorf("reading app %s back at %s: %w", a.id, base, err)
		}
	}
	return a, nil
}

// benchUser is a registered simulated user.
type benchUser struct {
	sim, account string
}

// benchEach runs fn(i) for i in [0, n) on workers goroutines, stopping at
// the first error; done counts finished items for progress.
func benchEach(ctx context.Context, n, workers int, done *atomic.Int64, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// benchWatch reports done/total on a progress line until stop is closed.
func benchWatch(p *progress, part string, done *atomic.Int64, total int) (stop func()) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				p.update(part, uint64(done.Load()), uint64(total))
				p.finish()
				return
			case <-t.C:
				p.update(part, uint64(done.Load()), uint64(total))
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// registerUsers creates the simulated users and registers each with one
// login, so that the bench's logins are returning users.
func (b *benchClient) registerUsers(ctx context.Context, c *cli, a benchApp) ([]benchUser, error) {
	users := make([]benchUser, b.cfg.users)
	var done atomic.Int64
	stop := benchWatch(newProgress(c.stderr, "registering users"), "users", &done, len(users))
	err := benchEach(ctx, len(users), b.cfg.concurrency, &done, func(ctx context.Context, i int) error {
		var u struct {
			User string `json:"user"`
		}
		if err := b.sim(ctx, "/sim/users", map[string]string{"nickname": fmt.Sprintf("bench %d", i)}, &u); err != nil {
			return err
		}
		var code struct {
			Code string `json:"code"`
		}
		if err := b.sim(ctx, "/sim/login", map[string]string{"appid": a.appid, "user": u.User}, &code); err != nil {
			return err
		}
		ans, err := b.login(ctx, b.replica(i), a.id, code.Code)
		if err != nil {
			return fmt.Errorf("first login of user %d: %w", i, err)
		}
		if ans.Status != "USER_REGISTER" || ans.BindTicket == "" {
			return fmt.Errorf("first login of user %d answered %s, not USER_REGISTER with a bind_ticket", i, ans.Status)
		}
		var reg loginAnswer
		body := map[string]string{"bind_ticket": ans.BindTicket, "display_name": fmt.Sprintf("Bench user %d", i)}
		if _, err := b.call(ctx, http.MethodPost, b.replica(i)+"/v1/register", "", body, &reg); err != nil {
			return fmt.Errorf("registering user %d: %w", i, err)
		}
		if reg.Status != "OK" || reg.AccountID == "" {
			return fmt.Errorf("registering user %d answered %s", i, reg.Status)
		}
		users[i] = benchUser{sim: u.User, account: reg.AccountID}
		return nil
	})
	stop()
	if err != nil {
		var ce *benchError
		if errors.As(err, &ce) {
			if h := benchHints(map[string]int{ce.key(): 1}, benchSample{ce.key(): ce.Detail}); len(h) > 0 {
				return nil, fmt.Errorf("%w\n%s", err, strings.Join(h, "\n"))
			}
		}
		return nil, err
	}
	return users, nil
}

// benchCode is a pre-minted wx.login code and the account it logs in to.
type benchCode struct {
	code, account string
}

// mint pre-mints n codes, handing them to users round-robin from offset
// first (so every user gets about the same number).
func (b *benchClient) mint(ctx context.Context, c *cli, a benchApp, users []benchUser, first, n int, label string) ([]benchCode, error) {
	codes := make([]benchCode, n)
	var done atomic.Int64
	stop := benchWatch(newProgress(c.stderr, label), "codes", &done, n)
	err := benchEach(ctx, n, max(b.cfg.concurrency, 16), &done, func(ctx context.Context, i int) error {
		u := users[(first+i)%len(users)]
		var ans struct {
			Code string `json:"code"`
		}
		if err := b.sim(ctx, "/sim/login", map[string]string{"appid": a.appid, "user": u.sim}, &ans); err != nil {
			return err
		}
		codes[i] = benchCode{code: ans.Code, account: u.account}
		return nil
	})
	stop()
	return codes, err
}
