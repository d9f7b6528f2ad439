package testenv

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Browser is an HTTP client with a cookie jar that follows redirects, as a
// browser would through a sign-in (without running the pages' scripts).
type Browser struct {
	e *Env
	C *http.Client
	// Stop, if set, is a path prefix whose redirects are not followed (a
	// web app's redirect URI, to read the code off it).
	Stop string
}

// Page is where a browser landed.
type Page struct {
	Status int
	URL    *url.URL
	Header http.Header
	Body   string
}

// NewBrowser is a fresh browser with no cookies.
func (e *Env) NewBrowser() *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{e: e}
	b.C = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > 20 {
			return http.ErrUseLastResponse
		}
		if b.Stop != "" && strings.HasPrefix(req.URL.Path, b.Stop) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

func (b *Browser) abs(target string) string {
	if strings.HasPrefix(target, "/") {
		return b.e.URL + target
	}
	return target
}

// Get loads target (a path on the server, or a URL).
func (b *Browser) Get(target string) Page {
	b.e.T.Helper()
	return b.Do("GET", target, nil)
}

// Post submits a form.
func (b *Browser) Post(target string, form url.Values) Page {
	b.e.T.Helper()
	return b.Do("POST", target, form)
}

// Do sends a request (a form for a POST, as same-origin forms do).
func (b *Browser) Do(method, target string, form url.Values) Page {
	b.e.T.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.abs(target), body)
	if err != nil {
		b.e.T.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.e.URL)
	}
	resp, err := b.C.Do(req)
	if err != nil {
		b.e.T.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return Page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(data)}
}

var qrIDAttr = regexp.MustCompile(`data-qr-id="([^"]+)"`)

// QRID is the QR id of a hosted login page ("" if the page shows none).
func (p Page) QRID() string {
	m := qrIDAttr.FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return m[1]
}

// SignInQR finishes a sign-in at Bindery's hosted login page p: the
// mini-program user holding idToken scans and confirms its QR code
// through the API (the phone's part), and the browser goes on as the
// page's script does once the QR is confirmed. It answers where the
// browser lands.
func (b *Browser) SignInQR(p Page, idToken string) Page {
	b.e.T.Helper()
	qr := p.QRID()
	if p.Status != http.StatusOK || qr == "" || p.URL.Path != "/oidc/login" {
		b.e.T.Fatalf("not a hosted login page with a QR code: %d %s %.300s", p.Status, p.URL, p.Body)
	}
	for _, step := range []string{"scan", "confirm"} {
		if r := b.e.Do("POST", "/v1/qr/"+qr+"/"+step, nil, "Authorization", "Bearer "+idToken); r.Status != http.StatusOK {
			b.e.T.Fatalf("QR %s: %d %s", step, r.Status, r.Body)
		}
	}
	return b.Get("/oidc/login/continue?id=" + url.QueryEscape(p.URL.Query().Get("id")) + "&qr=" + url.QueryEscape(qr))
}
