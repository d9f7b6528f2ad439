package handlers_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

// FuzzQREndpoints sends arbitrary ids, queries, headers and bodies to the
// QR login routes of a real server: never a 5xx, errors are problem+json.
func FuzzQREndpoints(f *testing.F) {
	env := testenv.Start(f, "", nil)
	if r := env.Admin("PUT", "/v1/apps/portal", map[string]any{"kind": "host", "host": map[string]any{"secret": "host-secret-0123456789abcdef"}}); r.Status != http.StatusCreated {
		f.Fatalf("app: %d %s", r.Status, r.Body)
	}
	r := env.Do("POST", "/v1/apps/portal/qr", nil)
	var q struct {
		QRID      string `json:"qr_id"`
		PollToken string `json:"poll_token"`
	}
	r.JSON(f, &q)
	for _, s := range [][4]string{
		{"poll", q.QRID, "wait=0&state=PENDING", q.PollToken},
		{"poll", q.QRID, "wait=31", q.PollToken},
		{"poll", q.QRID, "wait=-1&state=x", ""},
		{"poll", "AAAAAAAAAAAAAAAAAAAAAA", "poll_token=x", ""},
		{"scan", q.QRID, "", "Bearer x.y.z"},
		{"confirm", q.QRID, "", ""},
		{"cancel", q.QRID, "", "Bearer "},
		{"image", q.QRID + "/image.png", "", ""},
		{"start", "portal", "", `{"x":1}`},
		{"start", "No Such", "", `{}`},
		{"events", q.QRID, "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	client := &http.Client{Timeout: 20 * time.Second}
	f.Fuzz(func(t *testing.T, op, id, query, extra string) {
		if strings.IndexFunc(query, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			// Go's client sends such a query as it is, making a request
			// line no HTTP server reads (net/http answers its own plain
			// 400 before any route sees it); a real client escapes it.
			return
		}
		var req *http.Request
		var err error
		esc := url.PathEscape(id)
		switch op {
		case "start":
			req, err = http.NewRequest("POST", env.URL+"/v1/apps/"+esc+"/qr?"+query, bytes.NewReader([]byte(extra)))
			if err == nil {
				req.Header.Set("Content-Type", "application/json")
			}
		case "scan", "confirm", "cancel":
			req, err = http.NewRequest("POST", env.URL+"/v1/qr/"+esc+"/"+op+"?"+query, nil)
			if err == nil {
				req.Header.Set("Authorization", extra)
			}
		case "image", "events":
			req, err = http.NewRequest("GET", env.URL+"/v1/qr/"+esc+"/"+op+"?"+query, nil)
		default:
			req, err = http.NewRequest("GET", env.URL+"/v1/qr/"+esc+"?"+query, nil)
			if err == nil {
				req.Header.Set("X-Poll-Token", extra)
			}
		}
		if err != nil {
			return // not a request a client can send
		}
		resp, err := client.Do(req)
		if err != nil {
			return // e.g. a header value net/http refuses to send
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s: %d", req.Method, req.URL, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && ct != "application/problem+json" {
			t.Fatalf("%s %s: %d with %q", req.Method, req.URL, resp.StatusCode, ct)
		}
	})
}

// FuzzSyncNDJSON streams arbitrary NDJSON to the bulk sync: never a 5xx;
// a bad line is reported in the answer, a bad body is a problem.
func FuzzSyncNDJSON(f *testing.F) {
	env := testenv.Start(f, "", nil)
	if r := env.Admin("PUT", "/v1/apps/crm", map[string]any{
		"name": "CRM", "kind": "host", "host": map[string]string{"secret": "host-secret-0123456789"},
		"field_mapping": map[string]string{"uid": "external_id", "name": "display_name", "mobile": "phone", "dept": "attributes.dept"},
	}); r.Status != http.StatusCreated {
		f.Fatalf("app: %d %s", r.Status, r.Body)
	}
	for _, s := range []string{
		"{\"uid\":\"u1\",\"name\":\"A\",\"mobile\":\"+8613800138000\"}\n{\"uid\":\"u2\",\"name\":\"B\"}\n",
		"{\"uid\":\"u1\",\"uid\":\"u2\"}\n", "{\"uid\":\"\"}\n", "not json\n", "{\"uid\":1}\n", "\n\n\n", "{\"uid\":\"u3\",\"dept\":{\"x\":1}}",
		"{\"uid\":\"u1\",\"mobile\":\"123\"}\r\n", "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	client := &http.Client{Timeout: 30 * time.Second}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest("POST", env.URL+"/v1/apps/crm/sync/accounts", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+testenv.AdminToken)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("sync %q: %d", body, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && ct != "application/problem+json" {
			t.Fatalf("sync %q: %d with %q", body, resp.StatusCode, ct)
		}
	})
}
