package wxsim

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode"
)

// The control API (/sim/...) plays the parts of WeChat that no server API exposes: the
// mini program admin console (apps), WeChat users, and what wx.login and the
// phone-number button hand to the mini program (codes).

type appRequest struct {
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	OpenPlatform string `json:"open_platform,omitempty"`
}

type appAnswer struct {
	AppID        string `json:"appid"`
	OpenPlatform string `json:"open_platform,omitempty"`
}

// createApp registers a mini program, or updates its secret and open platform: the
// console lets an admin reset the secret, and re-running a demo script must not fail.
func (s *Server) createApp(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	var req appRequest
	if err := decodeControl(r, &req, false); err != nil {
		writeJSON(w, http.StatusBadRequest, controlError{err.Error()})
		return
	}
	switch {
	case !validID(req.AppID):
		writeJSON(w, http.StatusBadRequest, controlError{"appid is required (printable, no spaces)"})
		return
	case req.Secret == "":
		writeJSON(w, http.StatusBadRequest, controlError{"secret is required"})
		return
	case req.OpenPlatform != "" && !validID(req.OpenPlatform):
		writeJSON(w, http.StatusBadRequest, controlError{"open_platform must be printable, no spaces"})
		return
	}
	s.mu.Lock()
	a := s.apps[req.AppID]
	if a == nil {
		a = &app{id: req.AppID}
		s.apps[req.AppID] = a
	}
	a.secret = req.Secret
	a.openPlatform = req.OpenPlatform
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, appAnswer{AppID: req.AppID, OpenPlatform: req.OpenPlatform})
}

type userRequest struct {
	Phone    string `json:"phone"`
	Nickname string `json:"nickname"`
}

type userAnswer struct {
	User     string `json:"user"`
	OpenID   string `json:"openid,omitempty"`
	UnionID  string `json:"unionid,omitempty"`
	Phone    string `json:"phone,omitempty"`
	Nickname string `json:"nickname,omitempty"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	var req userRequest
	if err := decodeControl(r, &req, true); err != nil {
		writeJSON(w, http.StatusBadRequest, controlError{err.Error()})
		return
	}
	u := &user{nickname: req.Nickname}
	if req.Phone != "" {
		var err error
		if u.country, u.national, err = parsePhone(req.Phone); err != nil {
			writeJSON(w, http.StatusBadRequest, controlError{err.Error()})
			return
		}
	}
	s.mu.Lock()
	id, err := s.randAlnum(16)
	if err == nil {
		u.id = "user_" + id
		s.users[u.id] = u
	}
	s.mu.Unlock()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, controlError{"no randomness"})
		return
	}
	writeJSON(w, http.StatusCreated, userAnswer{User: u.id, Phone: u.e164(), Nickname: u.nickname})
}

// getUser shows a user as one app sees them: openid and unionid depend on the app.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodGet) {
		return
	}
	appID := r.URL.Query().Get("appid")
	if appID == "" {
		writeJSON(w, http.StatusBadRequest, controlError{"appid query parameter is required"})
		return
	}
	s.mu.Lock()
	a, u := s.apps[appID], s.users[r.PathValue("user")]
	var ans userAnswer
	if a != nil && u != nil {
		ans = userAnswer{
			User:     u.id,
			OpenID:   s.openID(a.id, u.id),
			UnionID:  s.unionID(a.openPlatform, u.id),
			Phone:    u.e164(),
			Nickname: u.nickname,
		}
	}
	s.mu.Unlock()
	switch {
	case a == nil:
		writeJSON(w, http.StatusNotFound, controlError{"no such app"})
	case u == nil:
		writeJSON(w, http.StatusNotFound, controlError{"no such user"})
	default:
		writeJSON(w, http.StatusOK, ans)
	}
}

type codeRequest struct {
	AppID string `json:"appid"`
	User  string `json:"user"`
}

type codeAnswer struct {
	Code string `json:"code"`
}

// mintLoginCode is wx.login: a 32-character code for code2session.
func (s *Server) mintLoginCode(w http.ResponseWriter, r *http.Request) {
	s.mintCode(w, r, loginCode)
}

// mintPhoneCode is the phone-number button: a code for getuserphonenumber.
func (s *Server) mintPhoneCode(w http.ResponseWriter, r *http.Request) {
	s.mintCode(w, r, phoneCode)
}

func (s *Server) mintCode(w http.ResponseWriter, r *http.Request, kind codeKind) {
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	var req codeRequest
	if err := decodeControl(r, &req, false); err != nil {
		writeJSON(w, http.StatusBadRequest, controlError{err.Error()})
		return
	}
	if req.AppID == "" || req.User == "" {
		writeJSON(w, http.StatusBadRequest, controlError{"appid and user are required"})
		return
	}
	status, msg, code := s.newGrant(req, kind)
	if status != http.StatusOK {
		writeJSON(w, status, controlError{msg})
		return
	}
	writeJSON(w, http.StatusOK, codeAnswer{Code: code})
}

func (s *Server) newGrant(req codeRequest, kind codeKind) (int, string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.prune(now)
	if s.apps[req.AppID] == nil {
		return http.StatusNotFound, "no such app", ""
	}
	u := s.users[req.User]
	if u == nil {
		return http.StatusNotFound, "no such user", ""
	}
	var code string
	var err error
	switch kind {
	case loginCode:
		code, err = s.randAlnum(32)
	case phoneCode:
		if !u.hasPhone() {
			return http.StatusBadRequest, "user has no phone number", ""
		}
		var b []byte
		b, err = s.randBytes(32)
		code = hex.EncodeToString(b)
	}
	if err != nil {
		return http.StatusInternalServerError, "no randomness", ""
	}
	s.codes[code] = &grant{kind: kind, app: req.AppID, user: u.id, expires: now.Add(codeTTL)}
	return http.StatusOK, "", code
}

// --- faults ----------------------------------------------------------------------------

// fault makes the next Times calls of a WeChat endpoint fail, with an errcode (HTTP 200,
// like the real API) or, when Status is set, with that HTTP status.
type fault struct {
	Path    string `json:"path"`
	Errcode int    `json:"errcode,omitempty"`
	Status  int    `json:"status,omitempty"`
	Times   int    `json:"times,omitempty"`
}

var wechatPaths = map[string]bool{
	"/sns/jscode2session":              true,
	"/cgi-bin/token":                   true,
	"/cgi-bin/stable_token":            true,
	"/wxa/business/getuserphonenumber": true,
	"/wxa/getwxacodeunlimit":           true,
}

// setFaults queues a fault (POST) or clears them all (DELETE). Faults are how tests of
// other components see -1 "system busy", 40226 or a 502 from a simulator that otherwise
// always works.
func (s *Server) setFaults(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		s.mu.Lock()
		clear(s.faults)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !allowMethod(w, r, http.MethodPost, http.MethodDelete) {
		return
	}
	var f fault
	if err := decodeControl(r, &f, false); err != nil {
		writeJSON(w, http.StatusBadRequest, controlError{err.Error()})
		return
	}
	if f.Times == 0 {
		f.Times = 1
	}
	switch {
	case !wechatPaths[f.Path]:
		writeJSON(w, http.StatusBadRequest, controlError{"path must be one of the simulated WeChat endpoints"})
		return
	case (f.Errcode == 0) == (f.Status == 0):
		writeJSON(w, http.StatusBadRequest, controlError{"set exactly one of errcode and status"})
		return
	case f.Status != 0 && (f.Status < 300 || f.Status > 599):
		writeJSON(w, http.StatusBadRequest, controlError{"status must be 300-599"})
		return
	case f.Times < 0 || f.Times > 10000:
		writeJSON(w, http.StatusBadRequest, controlError{"times must be 1-10000"})
		return
	}
	s.mu.Lock()
	s.faults[f.Path] = append(s.faults[f.Path], f)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, f)
}

// injectFault answers r with the next queued fault for its path, if there is one.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	queue := s.faults[r.URL.Path]
	if len(queue) == 0 {
		s.mu.Unlock()
		return false
	}
	f := queue[0]
	if queue[0].Times--; queue[0].Times == 0 {
		s.faults[r.URL.Path] = queue[1:]
	}
	s.mu.Unlock()
	if f.Status != 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(f.Status)
		_, _ = io.WriteString(w, "simulated upstream failure\n")
		return true
	}
	s.wxError(w, f.Errcode)
	return true
}

// --- helpers ----------------------------------------------------------------------------

func allowMethod(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, controlError{"method not allowed"})
	return false
}

// decodeControl decodes a control request body strictly, so a typo in a test script's
// field name fails loudly instead of creating the wrong thing.
func decodeControl(r *http.Request, v any, emptyOK bool) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) && emptyOK {
		return nil
	}
	if err != nil {
		return errors.New("malformed JSON body: " + err.Error())
	}
	return nil
}

// validID accepts what can travel unescaped in logs and query strings.
func validID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if c > unicode.MaxASCII || !unicode.IsPrint(c) || unicode.IsSpace(c) {
			return false
		}
	}
	return true
}
