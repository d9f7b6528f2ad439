package wxsim_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/bindery/bindery/internal/devtools/wxsim"
)

// clock is a fake time source the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type sim struct {
	t     *testing.T
	url   string
	clock *clock
}

func newSim(t *testing.T) *sim {
	t.Helper()
	c := &clock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	srv := httptest.NewServer(wxsim.New(wxsim.Options{Now: c.Now}))
	t.Cleanup(srv.Close)
	return &sim{t: t, url: srv.URL, clock: c}
}

// do sends a request and returns the status, headers and body.
func (s *sim) do(method, path string, body any) (int, http.Header, []byte) {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// control calls the control API and decodes its answer, failing unless it has want.
func (s *sim) control(method, path string, body any, want int) map[string]any {
	s.t.Helper()
	status, _, out := s.do(method, path, body)
	if status != want {
		s.t.Fatalf("%s %s %v: status %d, want %d: %s", method, path, body, status, want, out)
	}
	var m map[string]any
	if len(out) > 0 {
		if err := json.Unmarshal(out, &m); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, out)
		}
	}
	return m
}

// wx calls a WeChat endpoint, insists on HTTP 200 JSON, and returns the decoded body.
func (s *sim) wx(method, path string, body any) map[string]any {
	s.t.Helper()
	status, h, out := s.do(method, path, body)
	if status != http.StatusOK {
		s.t.Fatalf("%s %s: HTTP %d, WeChat answers errors with 200: %s", method, path, status, out)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.t.Fatalf("%s %s: content type %q", method, path, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		s.t.Fatalf("%s %s: %v: %s", method, path, err, out)
	}
	return m
}

var ridRE = regexp.MustCompile(`rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

// wantErr checks an errcode answer, including the request id WeChat appends.
func wantErr(t *testing.T, m map[string]any, code int) {
	t.Helper()
	got, _ := m["errcode"].(float64)
	if int(got) != code {
		t.Fatalf("errcode %v, want %d (answer %v)", m["errcode"], code, m)
	}
	if msg, _ := m["errmsg"].(string); !ridRE.MatchString(msg) {
		t.Fatalf("errmsg %q has no rid", msg)
	}
}

func (s *sim) app(appid, secret, openPlatform string) {
	s.t.Helper()
	s.control("POST", "/sim/apps", map[string]string{"appid": appid, "secret": secret, "open_platform": openPlatform}, http.StatusCreated)
}

func (s *sim) user(phone string) string {
	s.t.Helper()
	m := s.control("POST", "/sim/users", map[string]string{"phone": phone, "nickname": "Ming"}, http.StatusCreated)
	return m["user"].(string)
}

func (s *sim) loginCode(appid, user string) string {
	s.t.Helper()
	return s.control("POST", "/sim/login", map[string]string{"appid": appid, "user": user}, http.StatusOK)["code"].(string)
}

func (s *sim) phoneCode(appid, user string) string {
	s.t.Helper()
	return s.control("POST", "/sim/phone-code", map[string]string{"appid": appid, "user": user}, http.StatusOK)["code"].(string)
}

func (s *sim) session(appid, secret, code string) map[string]any {
	s.t.Helper()
	q := url.Values{"appid": {appid}, "secret": {secret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	return s.wx("GET", "/sns/jscode2session?"+q.Encode(), nil)
}

func (s *sim) token(appid, secret string) string {
	s.t.Helper()
	q := url.Values{"appid": {appid}, "secret": {secret}, "grant_type": {"client_credential"}}
	m := s.wx("GET", "/cgi-bin/token?"+q.Encode(), nil)
	if m["expires_in"] != float64(7200) {
		s.t.Fatalf("token answer %v", m)
	}
	return m["access_token"].(string)
}

func (s *sim) stable(appid, secret string, force bool) map[string]any {
	s.t.Helper()
	return s.wx("POST", "/cgi-bin/stable_token", map[string]any{
		"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force,
	})
}

// tokenErr reports the errcode the phone endpoint gives for token; 40029 means the token
// was accepted (the code is bogus on purpose).
func (s *sim) tokenErr(token string) int {
	s.t.Helper()
	m := s.wx("POST", "/wxa/business/getuserphonenumber?access_token="+url.QueryEscape(token), map[string]string{"code": "nope"})
	return int(m["errcode"].(float64))
}

func TestCode2SessionSuccess(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.app("wxA", "secretA", "op1")
	s.app("wxB", "secretB", "op1")
	s.app("wxC", "secretC", "")
	u := s.user("13800138000")

	a := s.session("wxA", "secretA", s.loginCode("wxA", u))
	if _, ok := a["errcode"]; ok {
		t.Fatalf("success carries no errcode: %v", a)
	}
	openID := a["openid"].(string)
	if !strings.HasPrefix(openID, "o") || len(openID) != 28 {
		t.Errorf("openid %q: want o + 27 characters", openID)
	}
	key, err := base64.StdEncoding.DecodeString(a["session_key"].(string))
	if err != nil || len(key) != 16 {
		t.Errorf("session_key %q: want base64 of 16 bytes", a["session_key"])
	}
	union := a["unionid"].(string)
	if !strings.HasPrefix(union, "u") || len(union) != 28 {
		t.Errorf("unionid %q", union)
	}

	again := s.session("wxA", "secretA", s.loginCode("wxA", u))
	if again["openid"] != openID || again["unionid"] != union {
		t.Errorf("second login: %v, want the same openid and unionid", again)
	}
	if again["session_key"] == a["session_key"] {
		t.Errorf("session_key repeated across logins")
	}

	b := s.session("wxB", "secretB", s.loginCode("wxB", u))
	if b["openid"] == openID {
		t.Errorf("openid equal across apps")
	}
	if b["unionid"] != union {
		t.Errorf("unionid %v differs within one open platform (want %v)", b["unionid"], union)
	}

	c := s.session("wxC", "secretC", s.loginCode("wxC", u))
	if _, ok := c["unionid"]; ok {
		t.Errorf("app without open platform got a unionid: %v", c)
	}

	other := s.session("wxA", "secretA", s.loginCode("wxA", s.user("")))
	if other["openid"] == openID || other["unionid"] == union {
		t.Errorf("two users share ids: %v", other)
	}

	view := s.control("GET", "/sim/users/"+u+"?appid=wxA", nil, http.StatusOK)
	if view["openid"] != openID || view["unionid"] != union || view["phone"] != "+8613800138000" {
		t.Errorf("control view %v disagrees with code2session", view)
	}
	if view := s.control("GET", "/sim/users/"+u+"?appid=wxC", nil, http.StatusOK); view["unionid"] != nil {
		t.Errorf("control view without open platform has unionid: %v", view)
	}
}

func TestCode2SessionErrors(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.app("wxA", "secretA", "")
	s.app("wxB", "secretB", "")
	u := s.user("13800138000")
	codeA := s.loginCode("wxA", u)
	codeB := s.loginCode("wxB", u)
	phone := s.phoneCode("wxA", u)

	tests := []struct {
		name  string
		query url.Values
		want  int
	}{
		{"missing appid", url.Values{"secret": {"secretA"}, "js_code": {codeA}}, 41002},
		{"missing secret", url.Values{"appid": {"wxA"}, "js_code": {codeA}}, 41004},
		{"missing code", url.Values{"appid": {"wxA"}, "secret": {"secretA"}}, 41008},
		{"unknown appid", url.Values{"appid": {"wxZ"}, "secret": {"secretA"}, "js_code": {codeA}}, 40013},
		{"wrong secret", url.Values{"appid": {"wxA"}, "secret": {"secretB"}, "js_code": {codeA}}, 40125},
		{"unknown code", url.Values{"appid": {"wxA"}, "secret": {"secretA"}, "js_code": {"0a1b2c"}}, 40029},
		{"other app's code", url.Values{"appid": {"wxA"}, "secret": {"secretA"}, "js_code": {codeB}}, 40029},
		{"phone code", url.Values{"appid": {"wxA"}, "secret": {"secretA"}, "js_code": {phone}}, 40029},
		{"bad grant_type", url.Values{"appid": {"wxA"}, "secret": {"secretA"}, "js_code": {codeA}, "grant_type": {"password"}}, 40002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, s.wx("GET", "/sns/jscode2session?"+tt.query.Encode(), nil), tt.want)
		})
	}
	// None of the failures above consumed the code.
	if m := s.session("wxA", "secretA", codeA); m["openid"] == nil {
		t.Fatalf("code unusable after failed attempts: %v", m)
	}
}

func TestCode2SessionSingleUseAndExpiry(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.app("wxA", "secretA", "")
	u := s.user("")

	code := s.loginCode("wxA", u)
	s.session("wxA", "secretA", code)
	wantErr(t, s.session("wxA", "secretA", code), 40163)

	late := s.loginCode("wxA", u)
	justInTime := s.loginCode("wxA", u)
	s.clock.Advance(5*time.Minute - time.Second)
	if m := s.session("wxA", "secretA", justInTime); m["openid"] == nil {
		t.Fatalf("code refused before 5 minutes: %v", m)
	}
	s.clock.Advance(time.Second)
	wantErr(t, s.session("wxA", "secretA", late), 40029)
}

func TestCode2SessionRateLimit(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.app("wxA", "secretA", "")
	u, other := s.user(""), s.user("")

	codes := make([]string, 101)
	for i := range codes {
		codes[i] = s.loginCode("wxA", u)
	}
	for i, c := range codes[:100] {
		if m := s.session("wxA", "secretA", c); m["openid"] == nil {
			t.Fatalf("call %d refused: %v", i+1, m)
		}
	}
	wantErr(t, s.session("wxA", "secretA", codes[100]), 45011)
	// The quota is per user: another user is unaffected.
	if m := s.session("wxA", "secretA", s.loginCode("wxA", other)); m["openid"] == nil {
		t.Fatalf("other user limited: %v", m)
	}
	// A refused call does not burn the code; a minute later it works.
	s.clock.Advance(time.Minute)
	if m := s.session("wxA", "secretA", codes[100]); m["openid"] == nil {
		t.Fatalf("after a minute: %v", m)
	}
}

func TestAccessTokenOverlapAndExpiry(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.app("wxA", "secretA", "")

	first := s.token("wxA", "secretA")
	if n := s.tokenErr(first); n != 40029 {
		t.Fatalf("fresh token refused: %d", n)
	}
	second := s.token("wxA", "secretA")
	if second == first {
		t.Fatal("/cgi-bin/token returned the same token twice")
	}
	s.clock.Advance(5*time.Minute - time.Second)
	if n := s.tokenErr(first); n != 40029 {
		t.Fatalf("old token refused within the overlap: %d", n)
	}
	s.clock.Advance(time.Second)
	if n := s.tokenErr(first); n != 40001 {
		t.Fatalf("old token after the overlap: %d, want 40001", n)
	}
	if n := s.tokenErr(second); n != 40029 {
		t.Fatalf("new token refused: %d", n)
	}
	s.clock.Advance(7200*time.Second - 5*time.Minute)
	if n := s.tokenErr(second); n != 42001 {
		t.Fatalf("token after 7200 s: %d, want 42001", n)
	}

	for _, tt := range []struct {
		token string
		want  int
	}{{"", 41001}, {"no-such-token", 40014}} {
		if n := s.tokenErr(tt.token); n != tt.want {
			t.Errorf("token %q: %d, want %d", tt.token, n, tt.want)
		}
	}

	for _, tt := range []struct {
		query url.Values
		want  int
	}{
		{url.Values{"appid": {"wxA"}, "secret": {"secretA"}}, 40002},
		{url.Values{"grant_type": {"client_credential"}, "secret": {"secretA"}}, 41002},
		{url.Values{"grant_type": {"client_credential"}, "appid": {"wxA"}}, 41004},
		{url.Values{"grant_type": {"client_credential"}, "appid": {"wxZ"}, "secret": {"x"}}, 40013},
		{url.Values{"grant_type": {"client_credential"}, "appid": {"wxA"}, "secret": {"x"}}, 40125},
	} {
		wantErr(t, s.wx("GET", "/cgi-bin/token?"+tt.query.Encode(), nil), tt.want)
	}
}

func TestStableToken(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.app("wxA", "secretA", "")

	a := s.stable("wxA", "secretA", false)
	tok := a["access_token"].(string)
	if a["expires_in"] != float64(7200) {
		t.Fatalf("first stable token: %v", a)
	}
	s.clock.Advance(100 * time.Second)
	b := s.stable("wxA", "secretA", false)
	if b["access_token"] != tok || b["expires_in"] != float64(7100) {
		t.Fatalf("stable token while valid: %v, want the same token with 7100 s left", b)
	}
	// The /cgi-bin/token series is separate: fetching there leaves the stable one alone.
	s.token("wxA", "secretA")
	s.clock.Advance(6 * time.Minute)
	if n := s.tokenErr(tok); n != 40029 {
		t.Fatalf("stable token disturbed by /cgi-bin/token: %d", n)
	}

	// force_refresh replaces the token and kills the old one at once.
	forced := s.stable("wxA", "secretA", true)["access_token"].(string)
	if forced == tok {
		t.Fatal("force_refresh returned the old token")
	}
	if n := s.tokenErr(tok); n != 40001 {
		t.Fatalf("token replaced by force_refresh: %d, want 40001", n)
	}
	// Within 30 s a forced refresh is ignored, as the platform does.
	if again := s.stable("wxA", "secretA", true)["access_token"]; again != forced {
		t.Fatal("force_refresh within 30 s issued a new token")
	}
	// At most 20 forced refreshes a day.
	for i := 1; i < 20; i++ {
		s.clock.Advance(31 * time.Second)
		if m := s.stable("wxA", "secretA", true); m["access_token"] == nil {
			t.Fatalf("forced refresh %d refused: %v", i+1, m)
		}
	}
	s.clock.Advance(31 * time.Second)
	wantErr(t, s.stable("wxA", "secretA", true), 45009)

	// In its last five minutes a stable token is renewed; the old one runs out by itself.
	cur := s.stable("wxA", "secretA", false)["access_token"].(string)
	s.clock.Advance(7200*time.Second - 5*time.Minute)
	renewed := s.stable("wxA", "secretA", false)
	if renewed["access_token"] == cur || renewed["expires_in"] != float64(7200) {
		t.Fatalf("stable token near expiry: %v, want a new one", renewed)
	}
	if n := s.tokenErr(cur); n != 40029 {
		t.Fatalf("old stable token during the overlap: %d", n)
	}
	s.clock.Advance(5 * time.Minute)
	if n := s.tokenErr(cur); n != 42001 {
		t.Fatalf("old stable token after the overlap: %d, want 42001", n)
	}

	wantErr(t, s.wx("GET", "/cgi-bin/stable_token", nil), 43002)
	wantErr(t, s.wx("POST", "/cgi-bin/stable_token", "{not json"), 47001)
	wantErr(t, s.wx("POST", "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": "wxA", "secret": "bad"}), 40125)
	wantErr(t, s.wx("POST", "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": "wxA"}), 41004)
}

func TestPhoneNumber(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.app("wxA", "secretA", "")
	s.app("wxB", "secretB", "")
	u := s.user("+8613800138000")
	tok := s.token("wxA", "secretA")
	path := "/wxa/business/getuserphonenumber?access_token=" + url.QueryEscape(tok)

	code := s.phoneCode("wxA", u)
	status, _, raw := s.do("POST", path, map[string]string{"code": code})
	if status != http.StatusOK {
		t.Fatalf("HTTP %d", status)
	}
	want := fmt.Sprintf(`{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"+86 13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{"timestamp":%d,"appid":"wxA"}}}`,
		s.clock.Now().Unix())
	if got := strings.TrimSpace(string(raw)); got != want {
		t.Fatalf("answer\n got %s\nwant %s", got, want)
	}

	wantErr(t, s.wx("POST", path, map[string]string{"code": code}), 40029) // used
	wantErr(t, s.wx("POST", path, map[string]string{"code": "unknown"}), 40029)
	wantErr(t, s.wx("POST", path, map[string]string{"code": s.phoneCode("wxB", u)}), 40029)
	wantErr(t, s.wx("POST", path, map[string]string{"code": s.loginCode("wxA", u)}), 40029)
	expired := s.phoneCode("wxA", u)
	s.clock.Advance(5 * time.Minute)
	wantErr(t, s.wx("POST", path, map[string]string{"code": expired}), 40029)

	wantErr(t, s.wx("GET", path, nil), 43002)
	wantErr(t, s.wx("POST", path, "code="+code), 47001)
	wantErr(t, s.wx("POST", "/wxa/business/getuserphonenumber", map[string]string{"code": code}), 41001)
	wantErr(t, s.wx("POST", "/wxa/business/getuserphonenumber?access_token=forged", map[string]string{"code": code}), 40014)

	// A user without a phone cannot press the button.
	s.control("POST", "/sim/phone-code", map[string]string{"appid": "wxA", "user": s.user("")}, http.StatusBadRequest)
}

func TestPhoneFormats(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.app("wxA", "secretA", "")
	path := "/wxa/business/getuserphonenumber?access_token=" + url.QueryEscape(s.token("wxA", "secretA"))

	for _, tt := range []struct{ in, e164, number, pure, country string }{
		{"13800138000", "+8613800138000", "+86 13800138000", "13800138000", "86"},
		{"+8613800138000", "+8613800138000", "+86 13800138000", "13800138000", "86"},
		{"008613800138000", "+8613800138000", "+86 13800138000", "13800138000", "86"},
		{"+14155550100", "+14155550100", "+1 4155550100", "4155550100", "1"},
		{"+852 9123 4567", "+85291234567", "+852 91234567", "91234567", "852"},
		{"+999 12345", "+99912345", "+999 12345", "12345", "999"},
	} {
		m := s.control("POST", "/sim/users", map[string]string{"phone": tt.in}, http.StatusCreated)
		if m["phone"] != tt.e164 {
			t.Errorf("phone %q stored as %v, want %s", tt.in, m["phone"], tt.e164)
		}
		info := s.wx("POST", path, map[string]string{"code": s.phoneCode("wxA", m["user"].(string))})["phone_info"].(map[string]any)
		if info["phoneNumber"] != tt.number || info["purePhoneNumber"] != tt.pure || info["countryCode"] != tt.country {
			t.Errorf("phone %q: phone_info %v, want %s / %s / %s", tt.in, info, tt.number, tt.pure, tt.country)
		}
	}
	for _, bad := range []string{"+99912345", "12ab", "+86 1", "+8612345678901234"} {
		s.control("POST", "/sim/users", map[string]string{"phone": bad}, http.StatusBadRequest)
	}
}

func TestWXACode(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.app("wxA", "secretA", "")
	path := "/wxa/getwxacodeunlimit?access_token=" + url.QueryEscape(s.token("wxA", "secretA"))

	scene := "qr=Ab9-_.~!*'()"
	status, h, body := s.do("POST", path, map[string]any{
		"scene": scene, "page": "pages/auth/auth", "check_path": true, "env_version": "release", "width": 430,
	})
	if status != http.StatusOK || h.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("HTTP %d, Content-Type %q: %.200s", status, h.Get("Content-Type"), body)
	}
	img, format, err := image.Decode(bytes.NewReader(body))
	if err != nil || format != "jpeg" {
		t.Fatalf("decoding the image: %v (format %q)", err, format)
	}
	if b := img.Bounds(); b.Dx() != 430 || b.Dy() != 430 {
		t.Fatalf("image %v, want 430x430", b)
	}
	// The picture is the QR code of the scene, module for module.
	q, err := qrcode.New(scene, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	bits := q.Bitmap()
	n := len(bits)
	for y := range bits {
		for x := range bits[y] {
			px := (2*x + 1) * 430 / (2 * n)
			py := (2*y + 1) * 430 / (2 * n)
			r, _, _, _ := img.At(px, py).RGBA()
			if dark := r < 0x8000; dark != bits[y][x] {
				t.Fatalf("module (%d,%d): dark=%v, want %v", x, y, dark, bits[y][x])
			}
		}
	}

	// Width is clamped to the documented 280-1280.
	_, _, small := s.do("POST", path, map[string]any{"scene": "a", "width": 10})
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(small)); err != nil || cfg.Width != 280 {
		t.Errorf("width 10: %v %v, want 280", cfg.Width, err)
	}
	_, _, dflt := s.do("POST", path, map[string]any{"scene": "a"})
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(dflt)); err != nil || cfg.Width != 430 {
		t.Errorf("no width: %v %v, want 430", cfg.Width, err)
	}

	for _, tt := range []struct {
		name string
		body any
		want int
	}{
		{"empty scene", map[string]any{"scene": ""}, 40169},
		{"33 characters", map[string]any{"scene": strings.Repeat("a", 33)}, 40169},
		{"space", map[string]any{"scene": "a b"}, 40129},
		{"percent", map[string]any{"scene": "a%20"}, 40129},
		{"not ASCII", map[string]any{"scene": "扫码"}, 40129},
		{"leading slash", map[string]any{"scene": "a", "page": "/pages/auth/auth"}, 41030},
		{"query in page", map[string]any{"scene": "a", "page": "pages/auth/auth?x=1"}, 41030},
		{"env_version", map[string]any{"scene": "a", "env_version": "beta"}, 40097},
		{"malformed", "{", 47001},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, s.wx("POST", path, tt.body), tt.want)
		})
	}
	if status, h, _ := s.do("POST", path, map[string]any{"scene": strings.Repeat("a", 32)}); status != http.StatusOK || h.Get("Content-Type") != "image/jpeg" {
		t.Errorf("32-character scene: HTTP %d %q, want an image", status, h.Get("Content-Type"))
	}
	wantErr(t, s.wx("GET", path, nil), 43002)
	wantErr(t, s.wx("POST", "/wxa/getwxacodeunlimit", map[string]any{"scene": "a"}), 41001)
}

func TestControlAPI(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.app("wxA", "secretA", "")
	s.app("wxA", "secretA", "") // same data again: fine
	u := s.user("")
	code := s.loginCode("wxA", u)
	s.app("wxA", "rotated", "") // a new secret replaces the old one
	wantErr(t, s.session("wxA", "secretA", code), 40125)
	if m := s.session("wxA", "rotated", code); m["openid"] == nil {
		t.Fatalf("rotated secret refused: %v", m)
	}

	for _, tt := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/sim/apps", map[string]string{"secret": "x"}, http.StatusBadRequest},
		{"POST", "/sim/apps", map[string]string{"appid": "wx B", "secret": "x"}, http.StatusBadRequest},
		{"POST", "/sim/apps", map[string]string{"appid": "wxB"}, http.StatusBadRequest},
		{"POST", "/sim/apps", map[string]string{"appid": "wxB", "secret": "x", "secert": "typo"}, http.StatusBadRequest},
		{"POST", "/sim/apps", "{", http.StatusBadRequest},
		{"GET", "/sim/apps", nil, http.StatusMethodNotAllowed},
		{"POST", "/sim/login", map[string]string{"appid": "wxA"}, http.StatusBadRequest},
		{"POST", "/sim/login", map[string]string{"appid": "wxZ", "user": u}, http.StatusNotFound},
		{"POST", "/sim/login", map[string]string{"appid": "wxA", "user": "nobody"}, http.StatusNotFound},
		{"POST", "/sim/phone-code", map[string]string{"appid": "wxA", "user": "nobody"}, http.StatusNotFound},
		{"GET", "/sim/users/" + u, nil, http.StatusBadRequest},
		{"GET", "/sim/users/" + u + "?appid=wxZ", nil, http.StatusNotFound},
		{"GET", "/sim/users/nobody?appid=wxA", nil, http.StatusNotFound},
		{"GET", "/sim/nothing", nil, http.StatusNotFound},
	} {
		m := s.control(tt.method, tt.path, tt.body, tt.want)
		if m["error"] == nil || m["error"] == "" {
			t.Errorf("%s %s: no error message in %v", tt.method, tt.path, m)
		}
	}

	m := s.control("POST", "/sim/users", nil, http.StatusCreated) // empty body: a user with nothing
	if m["user"] == "" || m["phone"] != nil {
		t.Errorf("bare user %v", m)
	}
	code = s.loginCode("wxA", u)
	if len(code) != 32 {
		t.Errorf("js_code %q: want 32 characters", code)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.app("wxA", "secretA", "")
	s.control("POST", "/sim/faults", map[string]any{"path": "/cgi-bin/token", "errcode": -1, "times": 2}, http.StatusCreated)
	q := url.Values{"appid": {"wxA"}, "secret": {"secretA"}, "grant_type": {"client_credential"}}.Encode()
	wantErr(t, s.wx("GET", "/cgi-bin/token?"+q, nil), -1)
	wantErr(t, s.wx("GET", "/cgi-bin/token?"+q, nil), -1)
	s.token("wxA", "secretA")

	s.control("POST", "/sim/faults", map[string]any{"path": "/cgi-bin/token", "status": 502}, http.StatusCreated)
	if status, _, _ := s.do("GET", "/cgi-bin/token?"+q, nil); status != http.StatusBadGateway {
		t.Fatalf("status fault: %d", status)
	}
	s.control("POST", "/sim/faults", map[string]any{"path": "/cgi-bin/token", "errcode": 40226, "times": 5}, http.StatusCreated)
	s.control("DELETE", "/sim/faults", nil, http.StatusNoContent)
	s.token("wxA", "secretA")

	s.control("POST", "/sim/faults", map[string]any{"path": "/sim/apps", "errcode": -1}, http.StatusBadRequest)
	s.control("POST", "/sim/faults", map[string]any{"path": "/cgi-bin/token"}, http.StatusBadRequest)
}

// TestInjectedRand shows that a seeded reader makes a server reproducible: same user
// ids, same openids.
func TestInjectedRand(t *testing.T) {
	t.Parallel()
	openID := func() string {
		c := &clock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
		srv := httptest.NewServer(wxsim.New(wxsim.Options{Now: c.Now, Rand: rand.NewChaCha8([32]byte{7})}))
		defer srv.Close()
		s := &sim{t: t, url: srv.URL, clock: c}
		s.app("wxA", "secretA", "")
		u := s.user("")
		return u + " " + s.session("wxA", "secretA", s.loginCode("wxA", u))["openid"].(string)
	}
	if a, b := openID(), openID(); a != b {
		t.Fatalf("same seed, different ids: %s vs %s", a, b)
	}
}

// TestConcurrent drives many users at once; run with -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.app("wxA", "secretA", "op")
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for range 20 {
		wg.Go(func() {
			u := s.user("13800138000")
			for range 5 {
				code := s.loginCode("wxA", u)
				q := url.Values{"appid": {"wxA"}, "secret": {"secretA"}, "js_code": {code}}
				resp, err := http.Get(s.url + "/sns/jscode2session?" + q.Encode())
				if err != nil {
					errs <- err.Error()
					return
				}
				var m map[string]any
				err = json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
				if err != nil || m["openid"] == nil {
					errs <- fmt.Sprintf("%v %v", err, m)
					return
				}
			}
			resp, err := http.Post(s.url+"/cgi-bin/stable_token", "application/json",
				strings.NewReader(`{"grant_type":"client_credential","appid":"wxA","secret":"secretA"}`))
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
