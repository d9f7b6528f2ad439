package handlers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// sweepCall is one request of the sweep.
type sweepCall struct {
	method, path string
	body         string // "" for none; "form:…" for a form post
	auth         string // the Authorization header, "" for none
}

// Every route, called with the inputs a careless or hostile caller sends
// (no body, broken JSON, the wrong shapes, odd path and query values; with
// the admin token, a person's id_token, a forged bearer and none), answers below 500 — or 503
// with Retry-After — within the request deadline, and every problem it
// answers is RFC 9457 with a stable code.
func TestEveryRouteRefusesBadInputCleanly(t *testing.T) {
	e := startAlt(t)
	acct := e.account(map[string]any{"username": "sweep", "password": "sweep-password-1", "email": "sweep@example.com"})
	// A signed-in person (bound by password) and a live QR, so that routes
	// which take a person's token or a QR id get past their first check.
	ticket := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code("wxshop", e.simUser(""))}, 200, "")["bind_ticket"]
	idToken, _ := e.post("/v1/bind/password", map[string]any{"bind_ticket": ticket, "username": "sweep", "password": "sweep-password-1"}, 200, "")["id_token"].(string)
	qr := e.Do("POST", "/v1/apps/shop/qr", nil)
	qrID, _ := qr.Map(t)["qr_id"].(string)
	if idToken == "" || qrID == "" {
		t.Fatalf("set-up: id_token %q, qr %d %s", idToken, qr.Status, qr.Body)
	}
	values := []string{"x", acct, qrID, "wiki", "shop", strings.Repeat("a", 300), "%00", "..%2F..", "%E2%80%AE", "00000000-0000-0000-0000-000000000000"}
	bodies := []string{"", "{", "[]", "null", `{"a":1}`, `"str"`,
		`{"name":1,"app":[],"type":{},"redirect_uris":"x","username":5,"password":[],"roles":"r","id":null,"code":1,"events":"x","permissions":{},"members":1}`,
		`{"name":"` + strings.Repeat("n", 5000) + `"}`,
		// Form posts, as the OAuth endpoints and the console take them.
		"form:grant_type=authorization_code&code=%zz&client_id=wiki&redirect_uri=javascript:x",
		"form:grant_type=refresh_token&refresh_token=x.y.z&client_id=wiki&client_secret=nope&scope=%00",
		"form:grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=&client_id=" + strings.Repeat("c", 300),
		"form:token=x&token_type_hint=refresh_token&csrf=x&id_token_hint=a.b.c&post_logout_redirect_uri=http://evil"}
	auths := []string{"Bearer " + testenv.AdminToken, "Bearer " + idToken, "Bearer eyJhbGciOiJFZERTQSJ9.e30.AAAA", ""}
	var calls []sweepCall
	seen := map[string]bool{}
	for _, r := range e.App.API.Echo().Routes() {
		if r.Method == "echo_route_not_found" || seen[r.Method+" "+r.Path] {
			continue
		}
		seen[r.Method+" "+r.Path] = true
		for _, v := range values {
			paths := []string{fillParams(r.Path, v)}
			if r.Method == http.MethodGet {
				paths = append(paths, paths[0]+"?limit=-1&cursor=%7B&wait=abc&q=%25&since=yesterday&type=%00&id="+v, paths[0]+"?min_position=h.a")
			}
			for _, path := range paths {
				for _, body := range bodies {
					if body != "" && (r.Method == http.MethodGet || r.Method == http.MethodDelete) {
						continue
					}
					for _, auth := range auths {
						calls = append(calls, sweepCall{r.Method, path, body, auth})
					}
				}
			}
		}
	}
	if len(seen) < 50 {
		t.Fatalf("only %d routes swept", len(seen))
	}
	// Several at once: a few routes wait a moment for a view (a QR page
	// for an id not yet seen), which one after another adds up.
	work := make(chan sweepCall)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 20 * time.Second}
	for range 8 {
		wg.Go(func() {
			for c := range work {
				if msg := sweepOne(client, e.URL, c); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
	for _, c := range calls {
		work <- c
	}
	close(work)
	wg.Wait()
	t.Logf("%d routes, %d calls", len(seen), len(calls))
}

// sweepOne sends c and says what is wrong with the answer ("" if nothing).
func sweepOne(client *http.Client, base string, c sweepCall) string {
	var body io.Reader
	ctype := "application/json"
	if form, ok := strings.CutPrefix(c.body, "form:"); ok {
		body, ctype = strings.NewReader(form), "application/x-www-form-urlencoded"
	} else if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, base+c.path, body)
	if err != nil {
		return err.Error()
	}
	if c.body != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	res, err := client.Do(req)
	if err != nil {
		return c.method + " " + c.path + ": " + err.Error()
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	what := c.method + " " + c.path + " body " + trim(c.body, 60) + ": " + res.Status + " " + trim(string(data), 300)
	if res.StatusCode >= 500 && !(res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "") {
		return what
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		var p map[string]any
		if json.Unmarshal(data, &p) != nil || p["code"] == nil || p["code"] == "" || p["status"] == nil {
			return "problem without a code or status: " + what
		}
	}
	return ""
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// fillParams puts v in place of every :param (and the * tail) of an Echo route.
func fillParams(route, v string) string {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || p == "*" {
			parts[i] = v
		}
	}
	return strings.Join(parts, "/")
}
