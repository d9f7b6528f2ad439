package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/bindery/bindery/internal/devtools/testenv"
	"github.com/bindery/bindery/internal/devtools/wxsim"
)

// deviceEnv is a bindery with a device-only public client ("tv") and a
// code-flow client without the device grant ("wiki"), whose mini program
// is a WeChat app on a real wxsim over loopback: the phone signs in as a
// mini program does (wx.login's code, then registering), never through a
// shortcut into the session service.
type deviceEnv struct {
	*qrEnv
	sim string // wxsim's base URL
}

// The mini program of the device tests, at wxsim and at Bindery.
const (
	deviceWeChatAppID  = "wxdevice0001"
	deviceWeChatSecret = "wx-secret-device-0001"
)

func startDevice(t *testing.T) deviceEnv {
	t.Helper()
	sim := httptest.NewServer(wxsim.New(wxsim.Options{}))
	t.Cleanup(sim.Close)
	e := deviceEnv{qrEnv: startQR(t, "", map[string]string{"BINDERY_WECHAT_API_BASE": sim.URL}), sim: sim.URL}
	e.simCall("/sim/apps", map[string]any{"appid": deviceWeChatAppID, "secret": deviceWeChatSecret})
	r := e.Admin("PUT", "/v1/apps/"+qrApp, map[string]any{
		"kind": "wechat", "wechat": map[string]any{"appid": deviceWeChatAppID, "secret": deviceWeChatSecret},
		"on_no_match": "register",
	})
	if r.Status != http.StatusOK && r.Status != http.StatusCreated {
		t.Fatalf("the WeChat app: %d %s", r.Status, r.Body)
	}
	// A TV has no browser to send back: no redirect URIs.
	r = e.Admin("PUT", "/v1/oidc/clients/tv", map[string]any{
		"name": "Meeting-room TV", "app": qrApp, "type": "public",
		"grant_types": []string{"urn:ietf:params:oauth:grant-type:device_code"},
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("register tv: %d %s", r.Status, r.Body)
	}
	r = e.Admin("PUT", "/v1/oidc/clients/wiki", map[string]any{
		"name": "Wiki", "app": qrApp, "type": "public", "redirect_uris": []string{"http://127.0.0.1:9/cb"},
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("register wiki: %d %s", r.Status, r.Body)
	}
	pos := r.Header.Get("X-Bindery-Position")
	testenv.Eventually(t, 10*time.Second, func() bool {
		return e.Admin("GET", "/v1/oidc/clients/tv?min_position="+pos, nil).Status == http.StatusOK
	})
	return e
}

// simCall posts to wxsim's control API and decodes the answer.
func (e deviceEnv) simCall(path string, body any) map[string]any {
	e.T.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(e.sim+path, "application/json", bytes.NewReader(data))
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode >= 300 {
		e.T.Fatalf("wxsim %s: %d %v %v", path, resp.StatusCode, out, err)
	}
	return out
}

// phone signs a new WeChat user in to the mini program as the mini
// program does: wx.login's code (minted by wxsim) to Bindery's login,
// which code2sessions it at wxsim, then registering with the bind ticket.
// It answers the account id and the id_token the phone then holds.
func (e deviceEnv) phone(name string) (string, string) {
	e.T.Helper()
	user := e.simCall("/sim/users", map[string]any{"nickname": name})["user"]
	code := e.simCall("/sim/login", map[string]any{"appid": deviceWeChatAppID, "user": user})["code"]
	r := e.Do("POST", "/v1/apps/"+qrApp+"/login/code", map[string]any{"code": code})
	ticket, _ := r.Map(e.T)["bind_ticket"].(string)
	if r.Status != http.StatusOK || ticket == "" {
		e.T.Fatalf("login with wx.login's code: %d %s", r.Status, r.Body)
	}
	r = e.Do("POST", "/v1/register", map[string]any{"bind_ticket": ticket, "display_name": name})
	reg := r.Map(e.T)
	acc, _ := reg["account_id"].(string)
	idToken, _ := reg["id_token"].(string)
	if acc == "" || idToken == "" {
		e.T.Fatalf("register: %d %s", r.Status, r.Body)
	}
	return acc, idToken
}

// form posts an OAuth form (as a device does) and decodes the JSON answer.
func (e deviceEnv) form(path string, v url.Values) (int, map[string]any) {
	e.T.Helper()
	resp, err := e.Client.PostForm(e.URL+path, v)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.T.Fatalf("%s: %d, not JSON: %v", path, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

type deviceStarted struct {
	DeviceCode, UserCode, VerificationURI, Complete string
	ExpiresIn, Interval                             int
}

func (e deviceEnv) authorize(client string) deviceStarted {
	e.T.Helper()
	st, out := e.form("/oauth2/device_authorization", url.Values{"client_id": {client}, "scope": {"openid profile"}})
	if st != http.StatusOK {
		e.T.Fatalf("device authorization: %d %v", st, out)
	}
	s := func(k string) string { v, _ := out[k].(string); return v }
	n := func(k string) int { v, _ := out[k].(float64); return int(v) }
	return deviceStarted{s("device_code"), s("user_code"), s("verification_uri"), s("verification_uri_complete"), n("expires_in"), n("interval")}
}

func (d deviceStarted) qrID() string { return d.Complete[strings.LastIndex(d.Complete, "/")+1:] }

// poll is one poll of the token endpoint: the error code ("" on success)
// and the answer.
func (e deviceEnv) poll(client, deviceCode string) (string, map[string]any) {
	e.T.Helper()
	st, out := e.form("/oauth2/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}, "client_id": {client},
	})
	code, _ := out["error"].(string)
	if (code == "") != (st == http.StatusOK) {
		e.T.Fatalf("token: %d %v", st, out)
	}
	return code, out
}

// pollUntil polls, a interval apart on the server's clock, while the
// answer is authorization_pending (the view may lag the phone's step).
func (e deviceEnv) pollUntil(client string, d deviceStarted) (string, map[string]any) {
	e.T.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		e.clock.Advance(time.Duration(d.Interval) * time.Second)
		code, out := e.poll(client, d.DeviceCode)
		if code != "authorization_pending" || time.Now().After(deadline) {
			return code, out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The Device Authorization Grant end to end over HTTP: a TV asks, polls
// (authorization_pending, then slow_down when too fast), the phone scans
// the QR the TV shows (verification_uri_complete names it) and confirms
// through the mini-program API, and the TV's next poll gets an id_token a
// stock OIDC library verifies and an access token userinfo accepts; the
// spent device code gets nothing more. A typed user code finds the same
// QR (any case, no dash); a cancel is access_denied; expiry is
// expired_token; a client without the grant is refused; no event holds a
// device or user code.
func TestDeviceFlow(t *testing.T) {
	e := startDevice(t)
	acc, idToken := e.phone("Tess")

	d := e.authorize("tv")
	if len(d.UserCode) != 9 || d.UserCode[4] != '-' || strings.Trim(strings.ReplaceAll(d.UserCode, "-", ""), "BCDFGHJKLMNPQRSTVWXZ") != "" {
		t.Fatalf("user code %q", d.UserCode)
	}
	if d.VerificationURI != e.URL+"/device" || d.Complete != e.URL+"/qr/"+d.qrID() || d.Interval != 5 || d.ExpiresIn != 300 || d.DeviceCode == "" {
		t.Fatalf("device answer %+v", d)
	}
	if r := e.Do("GET", "/qr/"+d.qrID(), nil); r.Status != http.StatusOK {
		t.Fatalf("the QR's landing page: %d", r.Status)
	}
	if r := e.Do("GET", "/device", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "bindery-device") {
		t.Fatalf("verification page: %d", r.Status)
	}
	disc := e.Do("GET", "/.well-known/openid-configuration", nil).Map(t)
	if !strings.Contains(strings.Join(anyStrings(disc["grant_types_supported"]), " "), "device_code") {
		t.Fatalf("discovery grants: %v", disc["grant_types_supported"])
	}

	if code, _ := e.poll("tv", d.DeviceCode); code != "authorization_pending" {
		t.Fatalf("first poll: %s", code)
	}
	if code, _ := e.poll("tv", d.DeviceCode); code != "slow_down" {
		t.Fatalf("a poll within the interval: %s", code)
	}
	e.clock.Advance(5 * time.Second)
	if code, _ := e.poll("tv", d.DeviceCode); code != "authorization_pending" {
		t.Fatalf("a poll after the interval: %s", code)
	}
	if code, _ := e.poll("wiki", d.DeviceCode); code != "access_denied" {
		t.Fatalf("another client's poll of the code: %s", code)
	}

	// The user types the code instead of scanning: lower case, no dash.
	typed := strings.ToLower(strings.ReplaceAll(d.UserCode, "-", ""))
	r := e.Do("POST", "/v1/qr/lookup", map[string]string{"user_code": typed}, "Authorization", "Bearer "+idToken)
	if r.Status != http.StatusOK || r.Map(t)["qr_id"] != d.qrID() {
		t.Fatalf("lookup: %d %s", r.Status, r.Body)
	}
	q := qrStarted{QRID: d.qrID()}
	qrWantState(t, "scan", e.step(q, "scan", idToken), "SCANNED")
	qrWantState(t, "confirm", e.step(q, "confirm", idToken), "CONFIRMED")
	code, tok := e.pollUntil("tv", d)
	if code != "" {
		t.Fatalf("poll after the confirmation: %s %v", code, tok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	provider, err := gooidc.NewProvider(ctx, e.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The id_token is checked on the server's clock (moved forward here).
	idt, err := provider.Verifier(&gooidc.Config{ClientID: "tv", Now: e.clock.Now}).Verify(ctx, tok["id_token"].(string))
	if err != nil || idt.Subject != acc {
		t.Fatalf("id_token: %v %+v", err, idt)
	}
	var claims struct {
		SID  string   `json:"sid"`
		AMR  []string `json:"amr"`
		Name string   `json:"name"`
	}
	if err := idt.Claims(&claims); err != nil || claims.SID == "" || claims.Name != "Tess" || strings.Join(claims.AMR, ",") != "qr" {
		t.Fatalf("id_token claims: %v %+v", err, claims)
	}
	ui := e.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+tok["access_token"].(string))
	if ui.Status != http.StatusOK || ui.Map(t)["sub"] != acc {
		t.Fatalf("userinfo with the device's access token: %d %s", ui.Status, ui.Body)
	}
	// OIDC Core 5.3.1: userinfo takes POST as well as GET.
	if ui := e.Do("POST", "/v1/userinfo", nil, "Authorization", "Bearer "+tok["access_token"].(string)); ui.Status != http.StatusOK || ui.Map(t)["sub"] != acc {
		t.Fatalf("userinfo by POST: %d %s", ui.Status, ui.Body)
	}
	e.clock.Advance(5 * time.Second)
	if code, _ := e.poll("tv", d.DeviceCode); code != "expired_token" {
		t.Fatalf("a poll with the spent device code: %s", code)
	}
	if r := e.Do("POST", "/v1/qr/lookup", map[string]string{"user_code": d.UserCode}, "Authorization", "Bearer "+idToken); r.Status != http.StatusNotFound {
		t.Fatalf("lookup of a used code: %d %s", r.Status, r.Body)
	}

	// Cancel on the phone: access_denied.
	c := e.authorize("tv")
	cq := qrStarted{QRID: c.qrID()}
	qrWantState(t, "scan", e.step(cq, "scan", idToken), "SCANNED")
	qrWantState(t, "cancel", e.step(cq, "cancel", idToken), "CANCELLED")
	if code, _ := e.pollUntil("tv", c); code != "access_denied" {
		t.Fatalf("poll after the cancel: %s", code)
	}

	// Nobody answers: past its lifetime the code is expired_token.
	x := e.authorize("tv")
	e.clock.Advance(time.Duration(x.ExpiresIn) * time.Second)
	if code, _ := e.poll("tv", x.DeviceCode); code != "expired_token" {
		t.Fatalf("poll past the lifetime: %s", code)
	}
	qrProblem(t, "lookup of an expired code", e.Do("POST", "/v1/qr/lookup", map[string]string{"user_code": x.UserCode}, "Authorization", "Bearer "+idToken), http.StatusNotFound, "user_code_invalid")

	// Forged or foreign codes get nothing.
	if code, _ := e.poll("tv", d.DeviceCode[:len(d.DeviceCode)-2]+"xx"); code != "access_denied" {
		t.Fatalf("forged device code: %s", code)
	}
	if st, out := e.form("/oauth2/device_authorization", url.Values{"client_id": {"wiki"}}); st != http.StatusBadRequest || out["error"] != "unauthorized_client" {
		t.Fatalf("a client without the device grant: %d %v", st, out)
	}
	if st, out := e.form("/oauth2/device_authorization", url.Values{"client_id": {"nobody-registered-this"}}); st != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Fatalf("a client_id nobody registered: %d %v", st, out)
	}

	// No event holds a device code or a user code (in any form typed).
	for _, rec := range streamData(t, e.Env) {
		for _, secret := range []string{d.DeviceCode, strings.SplitN(d.DeviceCode, ".", 2)[1], d.UserCode, strings.ReplaceAll(d.UserCode, "-", ""), c.DeviceCode, x.UserCode} {
			if strings.Contains(rec, secret) {
				t.Fatalf("an event holds %q: %s", secret, rec)
			}
		}
	}
}

// The user-code lookup wants a signed-in user, answers a stable problem
// for a code nobody waits with, and stops an address that guesses.
func TestDeviceLookupRefusesAndLimitsGuesses(t *testing.T) {
	e := startDevice(t)
	_, idToken := e.phone("Gus")
	qrProblem(t, "no bearer", e.Do("POST", "/v1/qr/lookup", map[string]string{"user_code": "BCDF-GHJK"}), http.StatusUnauthorized, "unauthorized")
	qrProblem(t, "not a code", e.Do("POST", "/v1/qr/lookup", map[string]string{"user_code": "AEIO-UAEI"}, "Authorization", "Bearer "+idToken), http.StatusNotFound, "user_code_invalid")
	qrProblem(t, "empty", e.Do("POST", "/v1/qr/lookup", map[string]string{}, "Authorization", "Bearer "+idToken), http.StatusBadRequest, "validation_failed")
	qrProblem(t, "unknown field", e.Do("POST", "/v1/qr/lookup", map[string]string{"code": "x"}, "Authorization", "Bearer "+idToken), http.StatusBadRequest, "validation_failed")
	limited := false
	for i := 0; i < 12 && !limited; i++ {
		r := e.Do("POST", "/v1/qr/lookup", map[string]string{"user_code": "BCDF-GHJK"}, "Authorization", "Bearer "+idToken)
		switch {
		case r.Status == http.StatusTooManyRequests:
			qrProblem(t, "guessing", r, http.StatusTooManyRequests, "rate_limited")
			limited = true
		case r.Status != http.StatusNotFound:
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	if !limited {
		t.Fatal("a dozen wrong codes from one address were not limited")
	}
	// A real code is found even then? No: the address waits, as a guesser would.
	d := e.authorize("tv")
	if r := e.Do("POST", "/v1/qr/lookup", map[string]string{"user_code": d.UserCode}, "Authorization", "Bearer "+idToken); r.Status != http.StatusTooManyRequests {
		t.Fatalf("lookup while limited: %d", r.Status)
	}
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}

// streamData is every stored message of both streams, as text.
func streamData(t *testing.T, e *testenv.Env) []string {
	t.Helper()
	var out []string
	for _, m := range allRecords(t, &loginEnv{Env: e}) {
		out = append(out, m.Subject+" "+string(m.Data))
	}
	return out
}
