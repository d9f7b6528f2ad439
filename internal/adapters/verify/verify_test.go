package verify

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestCall(t *testing.T) {
	var status atomic.Int32
	var body atomic.Value
	status.Store(200)
	body.Store(`{"external_id":"E1","display_name":"D","roles":["r"]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Bindery-Signature") != Sign("k", raw) || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(400)
			return
		}
		w.WriteHeader(int(status.Load()))
		_, _ = io.WriteString(w, body.Load().(string))
	}))
	defer srv.Close()
	c := New(nil, time.Second)
	now := time.Now()
	c.now = func() time.Time { return now }
	ctx := context.Background()

	ans, err := c.Password(ctx, srv.URL, "k", "u", "p")
	if err != nil || ans.ExternalID != "E1" || ans.Roles[0] != "r" {
		t.Fatalf("answer %+v %v", ans, err)
	}
	cases := []struct {
		status int
		body   string
		want   error
	}{
		{401, ``, ErrRejected},
		{500, ``, ErrUnavailable},
		{200, `not json`, ErrUnavailable},
		{200, `{"display_name":"no id"}`, ErrUnavailable},
	}
	for _, cs := range cases {
		status.Store(int32(cs.status))
		body.Store(cs.body)
		if _, err := c.HostUser(ctx, srv.URL, "k", "uid"); !errors.Is(err, cs.want) {
			t.Errorf("%d %q: %v, want %v", cs.status, cs.body, err, cs.want)
		}
		status.Store(200)
		body.Store(`{"external_id":"E1"}`)
		if _, err := c.HostUser(ctx, srv.URL, "k", "uid"); err != nil {
			t.Fatalf("reset: %v", err)
		}
	}
	if _, err := c.Password(ctx, srv.URL, "wrong-key", "u", "p"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("bad signature answer: %v", err)
	}
	// Five failures in a row open the breaker: no call until it is time.
	status.Store(503)
	for i := 0; i < breakAfter; i++ {
		_, _ = c.Password(ctx, srv.URL, "k", "u", "p")
	}
	status.Store(200)
	if _, err := c.Password(ctx, srv.URL, "k", "u", "p"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("breaker not open: %v", err)
	}
	now = now.Add(breakFor)
	if _, err := c.Password(ctx, srv.URL, "k", "u", "p"); err != nil {
		t.Fatalf("breaker did not close: %v", err)
	}
	// A 401 is an answer, not a failure of the API.
	status.Store(401)
	for i := 0; i < 2*breakAfter; i++ {
		if _, err := c.Password(ctx, srv.URL, "k", "u", "p"); !errors.Is(err, ErrRejected) {
			t.Fatalf("401 #%d: %v", i, err)
		}
	}
}

// A customer API that does not answer in time is unavailable: the call
// returns within the timeout instead of hanging the login.
func TestCallTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := New(nil, 200*time.Millisecond)
	start := time.Now()
	_, err := c.Password(context.Background(), srv.URL, "k", "u", "p")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("hanging API: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the call took %s; the timeout is 200ms", d)
	}
}
