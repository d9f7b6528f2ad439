package wxsim

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/jpeg"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

// api wraps a WeChat endpoint so injected faults (POST /sim/faults) answer first.
func (s *Server) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.injectFault(w, r) {
			return
		}
		h(w, r)
	}
}

// authApp checks an appid/secret pair. The caller holds s.mu.
func (s *Server) authApp(appID, secret string) (*app, int) {
	a := s.apps[appID]
	if a == nil {
		return nil, 40013
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(a.secret)) != 1 {
		return nil, 40125
	}
	return a, 0
}

// allowCall counts a call against the per-user minute quota (a sliding window).
// Refused calls are not counted, so a client that backs off recovers within a minute.
// The caller holds s.mu.
func (s *Server) allowCall(k rateKey, now time.Time) bool {
	ts := s.calls[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= time.Minute {
		i++
	}
	ts = ts[i:]
	if len(ts) >= minuteQuota {
		s.calls[k] = ts
		return false
	}
	s.calls[k] = append(ts, now)
	return true
}

// --- auth.code2Session -------------------------------------------------------------

type sessionBody struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
	UnionID    string `json:"unionid,omitempty"`
}

func (s *Server) code2Session(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appID, secret, jsCode := q.Get("appid"), q.Get("secret"), q.Get("js_code")
	switch {
	case appID == "":
		s.wxError(w, 41002)
		return
	case secret == "":
		s.wxError(w, 41004)
		return
	case jsCode == "":
		s.wxError(w, 41008)
		return
	case q.Get("grant_type") != "" && q.Get("grant_type") != "authorization_code":
		s.wxError(w, 40002)
		return
	}
	body, code := s.exchangeLoginCode(appID, secret, jsCode)
	if code != 0 {
		s.wxError(w, code)
		return
	}
	writeWX(w, body)
}

func (s *Server) exchangeLoginCode(appID, secret, jsCode string) (sessionBody, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.prune(now)
	a, code := s.authApp(appID, secret)
	if code != 0 {
		return sessionBody{}, code
	}
	g := s.codes[jsCode]
	if g == nil || g.kind != loginCode || g.app != appID {
		return sessionBody{}, 40029
	}
	if !s.allowCall(rateKey{appID, g.user}, now) {
		return sessionBody{}, 45011
	}
	if g.used {
		return sessionBody{}, 40163
	}
	if !now.Before(g.expires) {
		return sessionBody{}, 40029
	}
	key, err := s.randBytes(16) // a real session_key is 16 bytes, base64
	if err != nil {
		return sessionBody{}, -1
	}
	g.used = true
	return sessionBody{
		OpenID:     s.openID(appID, g.user),
		SessionKey: base64.StdEncoding.EncodeToString(key),
		UnionID:    s.unionID(a.openPlatform, g.user),
	}, 0
}

// --- access tokens -------------------------------------------------------------------

type tokenBody struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// token serves GET /cgi-bin/token: every call mints a new token, and the previous one
// keeps working for tokenOverlap.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appID, secret := q.Get("appid"), q.Get("secret")
	switch {
	case q.Get("grant_type") != "client_credential":
		s.wxError(w, 40002)
		return
	case appID == "":
		s.wxError(w, 41002)
		return
	case secret == "":
		s.wxError(w, 41004)
		return
	}
	body, code := s.issueToken(appID, secret)
	if code != 0 {
		s.wxError(w, code)
		return
	}
	writeWX(w, body)
}

func (s *Server) issueToken(appID, secret string) (tokenBody, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.prune(now)
	a, code := s.authApp(appID, secret)
	if code != 0 {
		return tokenBody{}, code
	}
	t, err := s.newToken(appID, now)
	if err != nil {
		return tokenBody{}, -1
	}
	if old := a.token; old != nil && old.revokeAt.IsZero() {
		old.revokeAt = now.Add(tokenOverlap)
	}
	a.token = t
	return tokenBody{AccessToken: t.value, ExpiresIn: int64(tokenTTL / time.Second)}, 0
}

// newToken mints and registers a token. The caller holds s.mu.
func (s *Server) newToken(appID string, now time.Time) (*accessToken, error) {
	b, err := s.randBytes(64)
	if err != nil {
		return nil, err
	}
	t := &accessToken{value: base64.RawURLEncoding.EncodeToString(b), app: appID, expires: now.Add(tokenTTL)}
	s.tokens[t.value] = t
	return t, nil
}

type stableTokenRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

// stableToken serves POST /cgi-bin/stable_token, a token series separate from
// /cgi-bin/token (the real platform keeps them apart too).
func (s *Server) stableToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.wxError(w, 43002)
		return
	}
	var req stableTokenRequest
	if !decodeWX(r, &req) {
		s.wxError(w, 47001)
		return
	}
	switch {
	case req.GrantType != "client_credential":
		s.wxError(w, 40002)
		return
	case req.AppID == "":
		s.wxError(w, 41002)
		return
	case req.Secret == "":
		s.wxError(w, 41004)
		return
	}
	body, code := s.issueStableToken(req)
	if code != 0 {
		s.wxError(w, code)
		return
	}
	writeWX(w, body)
}

func (s *Server) issueStableToken(req stableTokenRequest) (tokenBody, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.prune(now)
	a, code := s.authApp(req.AppID, req.Secret)
	if code != 0 {
		return tokenBody{}, code
	}
	cur := a.stable
	switch {
	case req.ForceRefresh && cur != nil && cur.usable(now) && now.Sub(a.lastForce) < forceRefreshGap:
		// The platform ignores a forced refresh within 30 s of the last one and hands
		// out the current token.
	case req.ForceRefresh:
		day := now.In(china).Format(time.DateOnly)
		if a.forceDay != day {
			a.forceDay, a.forceCount = day, 0
		}
		if a.forceCount >= forceRefreshDay {
			return tokenBody{}, 45009
		}
		t, err := s.newToken(a.id, now)
		if err != nil {
			return tokenBody{}, -1
		}
		a.forceCount++
		a.lastForce = now
		if cur != nil && cur.revokeAt.IsZero() {
			cur.revokeAt = now // a forced refresh kills the old token at once
		}
		a.stable = t
	case cur == nil || !cur.usable(now) || cur.expires.Sub(now) <= tokenOverlap:
		// The platform renews a stable token in its last five minutes; the old one runs
		// out on its own, which is the same five-minute overlap.
		t, err := s.newToken(a.id, now)
		if err != nil {
			return tokenBody{}, -1
		}
		a.stable = t
	}
	return tokenBody{AccessToken: a.stable.value, ExpiresIn: int64(a.stable.expires.Sub(now) / time.Second)}, 0
}

// checkToken resolves the access_token query parameter to its app.
func (s *Server) checkToken(r *http.Request) (string, int) {
	value := r.URL.Query().Get("access_token")
	if value == "" {
		return "", 41001
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	t := s.tokens[value]
	switch {
	case t == nil:
		return "", 40014
	case !t.revokeAt.IsZero() && !now.Before(t.revokeAt):
		return "", 40001
	case !now.Before(t.expires):
		return "", 42001
	}
	return t.app, 0
}

// --- phonenumber.getPhoneNumber ------------------------------------------------------

type phoneBody struct {
	Errcode   int       `json:"errcode"`
	Errmsg    string    `json:"errmsg"`
	PhoneInfo phoneInfo `json:"phone_info"`
}

type phoneInfo struct {
	PhoneNumber     string    `json:"phoneNumber"`
	PurePhoneNumber string    `json:"purePhoneNumber"`
	CountryCode     string    `json:"countryCode"`
	Watermark       watermark `json:"watermark"`
}

type watermark struct {
	Timestamp int64  `json:"timestamp"`
	AppID     string `json:"appid"`
}

// tokenPost admits a POST with a valid access token (the token is checked
// first, as WeChat does), answering the errcode itself otherwise.
func (s *Server) tokenPost(w http.ResponseWriter, r *http.Request) (appID string, ok bool) {
	appID, code := s.checkToken(r)
	if code == 0 && r.Method != http.MethodPost {
		code = 43002
	}
	if code != 0 {
		s.wxError(w, code)
		return "", false
	}
	return appID, true
}

func (s *Server) phoneNumber(w http.ResponseWriter, r *http.Request) {
	appID, ok := s.tokenPost(w, r)
	if !ok {
		return
	}
	// openid is accepted and not checked: the docs do not say what a mismatch answers.
	var req struct {
		Code   string `json:"code"`
		OpenID string `json:"openid"`
	}
	if !decodeWX(r, &req) {
		s.wxError(w, 47001)
		return
	}
	info, code := s.redeemPhoneCode(appID, req.Code)
	if code != 0 {
		s.wxError(w, code)
		return
	}
	writeWX(w, phoneBody{Errmsg: "ok", PhoneInfo: info})
}

func (s *Server) redeemPhoneCode(appID, code string) (phoneInfo, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	g := s.codes[code]
	if g == nil || g.kind != phoneCode || g.app != appID || g.used || !now.Before(g.expires) {
		return phoneInfo{}, 40029
	}
	g.used = true
	u := s.users[g.user]
	return phoneInfo{
		PhoneNumber:     "+" + u.country + " " + u.national,
		PurePhoneNumber: u.national,
		CountryCode:     u.country,
		Watermark:       watermark{Timestamp: now.Unix(), AppID: appID},
	}, 0
}

// --- wxacode.getUnlimited ------------------------------------------------------------

const (
	defaultQRWidth = 430
	minQRWidth     = 280
	maxQRWidth     = 1280
	maxSceneLen    = 32
	sceneSymbols   = "!#$&'()*+,/:;=?@-._~"
)

type wxaCodeRequest struct {
	Scene      string `json:"scene"`
	Page       string `json:"page"`
	CheckPath  *bool  `json:"check_path"`
	EnvVersion string `json:"env_version"`
	Width      int    `json:"width"`
}

func (s *Server) wxaCode(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.tokenPost(w, r); !ok {
		return
	}
	var req wxaCodeRequest
	if !decodeWX(r, &req) {
		s.wxError(w, 47001)
		return
	}
	if code := validateWXACode(req); code != 0 {
		s.wxError(w, code)
		return
	}
	img, err := qrJPEG(req.Scene, req.Width)
	if err != nil {
		s.wxError(w, -1)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(img)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(img)
}

func validateWXACode(req wxaCodeRequest) int {
	if req.Scene == "" || len(req.Scene) > maxSceneLen {
		return 40169
	}
	for _, c := range req.Scene {
		if !validSceneChar(c) {
			return 40129
		}
	}
	if strings.HasPrefix(req.Page, "/") || strings.Contains(req.Page, "?") {
		return 41030
	}
	switch req.EnvVersion {
	case "", "release", "trial", "develop":
	default:
		return 40097
	}
	return 0
}

func validSceneChar(c rune) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' ||
		strings.ContainsRune(sceneSymbols, c)
}

// qrJPEG draws a standard QR code holding the scene text. The real API draws a round
// "mini program code" that only WeChat can read; a plain QR code lets tests and the demo
// read the scene back with any scanner.
func qrJPEG(scene string, width int) ([]byte, error) {
	switch {
	case width == 0:
		width = defaultQRWidth
	case width < minQRWidth:
		width = minQRWidth
	case width > maxQRWidth:
		width = maxQRWidth
	}
	q, err := qrcode.New(scene, qrcode.Medium)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, q.Image(width), &jpeg.Options{Quality: 90}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeWX decodes a JSON request body; false means WeChat's 47001.
func decodeWX(r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		return false
	}
	// Trailing garbage after the object is a malformed body too.
	_, err := dec.Token()
	return errors.Is(err, io.EOF)
}
