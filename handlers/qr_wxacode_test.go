package handlers_test

import (
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/bindery/bindery/internal/devtools/wxsim"
)

// An app whose QR mode is wxacode shows WeChat's mini program code (from a
// real wxsim over loopback) with the QR id as scene, served as PNG and
// drawn once per session.
func TestQRWXACode(t *testing.T) {
	sim := wxsim.New(wxsim.Options{})
	var draws atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wxa/getwxacodeunlimit" {
			draws.Add(1)
			var body struct {
				Scene, Page string
			}
			data := new(bytes.Buffer)
			_, _ = data.ReadFrom(r.Body)
			if json.Unmarshal(data.Bytes(), &body) != nil || body.Page != "pages/qr/confirm" {
				t.Errorf("getwxacodeunlimit body %s", data)
			}
			r.Body = io.NopCloser(bytes.NewReader(data.Bytes()))
		}
		sim.ServeHTTP(w, r)
	}))
	defer srv.Close()
	post := func(path string, body any) {
		data, _ := json.Marshal(body)
		resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(data))
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("wxsim %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	post("/sim/apps", map[string]any{"appid": "wxqr0001", "secret": "wx-secret-qr-0001"})

	env := startQR(t, "", map[string]string{"BINDERY_WECHAT_API_BASE": srv.URL})
	r := env.Admin("PUT", "/v1/apps/"+qrApp, map[string]any{
		"kind": "wechat", "wechat": map[string]any{"appid": "wxqr0001", "secret": "wx-secret-qr-0001"},
		"qr": map[string]any{"mode": "wxacode", "page": "pages/qr/confirm"},
	})
	if r.Status != http.StatusOK && r.Status != http.StatusCreated {
		t.Fatalf("app: %d %s", r.Status, r.Body)
	}
	q := env.start("X-Bindery-Position", r.Header.Get("X-Bindery-Position"))
	var img []byte
	for range 2 {
		g := env.Do("GET", "/v1/qr/"+q.QRID+"/image.png", nil)
		if g.Status != 200 || g.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("image: %d %s", g.Status, g.Body)
		}
		img = g.Body
	}
	if n := draws.Load(); n != 1 {
		t.Fatalf("WeChat drew the code %d times, want once (cached)", n)
	}
	decoded, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeQR(t, decoded); got != q.QRID {
		t.Fatalf("the mini program code holds %q, want the QR id %q", got, q.QRID)
	}
	// qr_url stays the plain link.
	if q.QRURL != env.URL+"/qr/"+q.QRID {
		t.Fatalf("qr_url %q", q.QRURL)
	}

	// WeChat unreachable: a clear 503, not a 500.
	srv.Close()
	q2 := env.start()
	qrProblem(t, "image without WeChat", env.Do("GET", "/v1/qr/"+q2.QRID+"/image.png", nil), 503, "upstream_unavailable")
}
