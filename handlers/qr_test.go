package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/devtools/natstest"
	"github.com/bindery/bindery/internal/devtools/testenv"
	"github.com/bindery/bindery/internal/server"
)

const qrApp = "demo"

// qrClock is wall time plus an offset a test moves forward (QR expiry
// without waiting for it).
type qrClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *qrClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *qrClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// qrEnv is a bindery with the QR app registered.
type qrEnv struct {
	*testenv.Env
	clock *qrClock
}

func startQR(t *testing.T, dir string, env map[string]string) *qrEnv {
	t.Helper()
	clock := &qrClock{}
	e := &qrEnv{Env: testenv.Start(t, dir, env, server.WithClock(clock.Now)), clock: clock}
	e.registerApp(qrApp)
	return e
}

// registerApp registers a host-kind app (no WeChat needed), or leaves it
// as it is when it exists (a restarted server).
func (e *qrEnv) registerApp(id string) {
	e.T.Helper()
	r := e.Admin("PUT", "/v1/apps/"+id, map[string]any{"kind": "host", "host": map[string]any{"secret": "host-secret-0123456789abcdef"}})
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		e.T.Fatalf("register app: %d %s", r.Status, r.Body)
	}
}

// user creates an account and logs it in (a session through the sessions
// service, as a mini-program login ends), answering its id and id_token.
func (e *qrEnv) user(name string) (string, string) {
	e.T.Helper()
	r := e.Admin("POST", "/v1/accounts", map[string]any{"display_name": name, "avatar_url": "https://img.example/" + name + ".png"})
	if r.Status != http.StatusCreated {
		e.T.Fatalf("create account: %d %s", r.Status, r.Body)
	}
	id := r.Map(e.T)["id"].(string)
	pos, _ := events.ParsePosition(r.Header.Get("X-Bindery-Position"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.App.Engine.WaitFor(ctx, pos); err != nil {
		e.T.Fatal(err)
	}
	return id, e.login(id)
}

// login starts a session for an existing account and answers its id_token.
func (e *qrEnv) login(accountID string) string {
	e.T.Helper()
	return e.loginSession(accountID).IDToken
}

type qrStarted struct {
	QRID      string `json:"qr_id"`
	QRURL     string `json:"qr_url"`
	ImageURL  string `json:"image_url"`
	PollToken string `json:"poll_token"`
	ExpiresIn int    `json:"expires_in"`
}

func (e *qrEnv) start(headers ...string) qrStarted {
	e.T.Helper()
	r := e.Do("POST", "/v1/apps/"+qrApp+"/qr", nil, headers...)
	if r.Status != http.StatusCreated {
		e.T.Fatalf("start qr: %d %s", r.Status, r.Body)
	}
	var q qrStarted
	r.JSON(e.T, &q)
	return q
}

type qrStatus struct {
	State     string `json:"state"`
	ExpiresIn int    `json:"expires_in"`
	ScannedBy *struct {
		DisplayName string `json:"display_name"`
		AvatarURL   string `json:"avatar_url"`
	} `json:"scanned_by"`
	AccountID    string `json:"account_id"`
	IDToken      string `json:"id_token"`
	SessionToken string `json:"session_token"`
	TokenType    string `json:"token_type"`
}

// poll reads the QR login with its poll token (query is appended).
func (e *qrEnv) poll(q qrStarted, query string) (testenv.Response, qrStatus) {
	e.T.Helper()
	r := e.Do("GET", "/v1/qr/"+q.QRID+query, nil, "X-Poll-Token", q.PollToken)
	var st qrStatus
	if r.Status == http.StatusOK {
		r.JSON(e.T, &st)
	}
	return r, st
}

// step is a mini-program user's scan, confirm or cancel.
func (e *qrEnv) step(q qrStarted, step, idToken string) testenv.Response {
	e.T.Helper()
	var h []string
	if idToken != "" {
		h = []string{"Authorization", "Bearer " + idToken}
	}
	return e.Do("POST", "/v1/qr/"+q.QRID+"/"+step, nil, h...)
}

func qrProblem(t *testing.T, what string, r testenv.Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%s: %d %s, want %d %s", what, r.Status, r.Body, status, code)
	}
	var p struct{ Code, Detail string }
	if err := json.Unmarshal(r.Body, &p); err != nil || p.Code != code {
		t.Fatalf("%s: %s, want code %s", what, r.Body, code)
	}
}

func qrWantState(t *testing.T, what string, r testenv.Response, state string) map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%s: %d %s, want %s", what, r.Status, r.Body, state)
	}
	m := r.Map(t)
	if m["state"] != state {
		t.Fatalf("%s: %s, want %s", what, r.Body, state)
	}
	return m
}

// The whole flow over HTTP, with every refusal on the way.
func TestQRLoginFlow(t *testing.T) {
	env := startQR(t, "", map[string]string{"BINDERY_TRUSTED_PROXIES": "127.0.0.1/32"})
	alice, aliceTok := env.user("Alice")
	_, bobTok := env.user("Bob")

	ua := "Mozilla/5.0 (X11; Linux x86_64) QRTest/1.0"
	r := env.Do("POST", "/v1/apps/"+qrApp+"/qr", nil, "User-Agent", ua, "X-Forwarded-For", "198.51.100.1, 203.0.113.9")
	if r.Status != http.StatusCreated || r.Header.Get("X-Bindery-Position") == "" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("start: %d %v %s", r.Status, r.Header, r.Body)
	}
	var q qrStarted
	r.JSON(t, &q)
	if len(q.QRID) != 22 || q.QRURL != env.URL+"/qr/"+q.QRID || q.ImageURL != env.URL+"/v1/qr/"+q.QRID+"/image.png" ||
		len(q.PollToken) < 40 || q.ExpiresIn != 300 {
		t.Fatalf("started: %+v", q)
	}

	// Reading the outcome needs the poll token.
	qrProblem(t, "poll without token", env.Do("GET", "/v1/qr/"+q.QRID, nil), 401, "poll_token_required")
	qrProblem(t, "poll with a wrong token", env.Do("GET", "/v1/qr/"+q.QRID, nil, "X-Poll-Token", q.PollToken+"x"), 403, "poll_token_invalid")
	qrProblem(t, "poll with another QR's token", env.Do("GET", "/v1/qr/"+q.QRID, nil, "X-Poll-Token", env.start().PollToken), 403, "poll_token_invalid")
	qrProblem(t, "poll unknown id", env.Do("GET", "/v1/qr/AAAAAAAAAAAAAAAAAAAAAA", nil, "X-Poll-Token", q.PollToken), 404, "qr_not_found")
	qrProblem(t, "poll malformed id", env.Do("GET", "/v1/qr/not-an-id", nil, "X-Poll-Token", q.PollToken), 404, "qr_not_found")
	qrWantState(t, "poll by query token", env.Do("GET", "/v1/qr/"+q.QRID+"?poll_token="+q.PollToken, nil), "PENDING")
	_, st := env.poll(q, "")
	if st.State != "PENDING" || st.ExpiresIn < 299 || st.ScannedBy != nil || st.IDToken != "" {
		t.Fatalf("pending: %+v", st)
	}

	// Only a logged-in user scans; nobody confirms or cancels before a scan.
	qrProblem(t, "scan without login", env.step(q, "scan", ""), 401, "unauthorized")
	qrProblem(t, "scan with a bad token", env.step(q, "scan", "not-a-jwt"), 401, "invalid_token")
	qrProblem(t, "scan with a session token", env.step(q, "scan", q.PollToken), 401, "invalid_token")
	qrProblem(t, "confirm before scan", env.step(q, "confirm", aliceTok), 409, "qr_state")
	qrProblem(t, "cancel before scan", env.step(q, "cancel", aliceTok), 409, "qr_state")
	qrProblem(t, "scan unknown", env.Do("POST", "/v1/qr/AAAAAAAAAAAAAAAAAAAAAA/scan", nil, "Authorization", "Bearer "+aliceTok), 404, "qr_not_found")

	// The scan shows who asked: the client address (the trusted proxy's
	// X-Forwarded-For), the user agent and the time.
	scan := env.step(q, "scan", aliceTok)
	m := qrWantState(t, "scan", scan, "SCANNED")
	req := m["requester"].(map[string]any)
	if req["ip"] != "203.0.113.9" || req["user_agent"] != ua || req["created_at"] == "" || m["app"] != qrApp {
		t.Fatalf("scan answer: %v", m)
	}
	qrProblem(t, "scan twice", env.step(q, "scan", aliceTok), 409, "qr_state")
	qrProblem(t, "scan by another user", env.step(q, "scan", bobTok), 409, "qr_state")
	qrProblem(t, "confirm by another user", env.step(q, "confirm", bobTok), 403, "qr_not_scanner")
	qrProblem(t, "cancel by another user", env.step(q, "cancel", bobTok), 403, "qr_not_scanner")
	_, st = env.poll(q, "?min_position="+scan.Header.Get("X-Bindery-Position"))
	if st.State != "SCANNED" || st.ScannedBy == nil || st.ScannedBy.DisplayName != "Alice" || st.ScannedBy.AvatarURL != "https://img.example/Alice.png" {
		t.Fatalf("scanned: %+v", st)
	}

	c := env.step(q, "confirm", aliceTok)
	qrWantState(t, "confirm", c, "CONFIRMED")
	qrProblem(t, "double confirm", env.step(q, "confirm", aliceTok), 409, "qr_state")
	qrProblem(t, "cancel after confirm", env.step(q, "cancel", aliceTok), 409, "qr_state")

	// The poller collects the login: tokens once, for the QR's app.
	r, st = env.poll(q, "?min_position="+c.Header.Get("X-Bindery-Position"))
	if st.State != "CONSUMED" || st.AccountID != alice || st.IDToken == "" || st.SessionToken == "" || st.TokenType != "Bearer" || st.ExpiresIn != 900 {
		t.Fatalf("collect: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("tokens without Cache-Control: no-store")
	}
	info := env.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+st.IDToken)
	if info.Status != 200 || info.Map(t)["sub"] != alice || info.Map(t)["name"] != "Alice" {
		t.Fatalf("userinfo with the PC's token: %d %s", info.Status, info.Body)
	}
	ref := env.Do("POST", "/v1/sessions/refresh", map[string]string{"session_token": st.SessionToken})
	if ref.Status != 200 {
		t.Fatalf("refresh the PC's session: %d %s", ref.Status, ref.Body)
	}
	r, again := env.poll(q, "")
	if again.State != "CONSUMED" || again.IDToken != "" || again.SessionToken != "" || strings.Contains(string(r.Body), "token") {
		t.Fatalf("second poll: %s", r.Body)
	}
	qrProblem(t, "confirm after consume", env.step(q, "confirm", aliceTok), 410, "qr_consumed")
	qrProblem(t, "scan after consume", env.step(q, "scan", bobTok), 410, "qr_consumed")
	qrProblem(t, "cancel after consume", env.step(q, "cancel", aliceTok), 410, "qr_consumed")

	// The history: each step once, attributed, no secret in any event.
	recs, err := env.App.Store.Load(context.Background(), events.Aggregate{Type: "qr", ID: q.QRID}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rec := range recs {
		names = append(names, rec.Envelope.Type)
		for _, secret := range []string{q.PollToken, st.IDToken, st.SessionToken, aliceTok} {
			if bytes.Contains(rec.Raw, []byte(secret)) {
				t.Fatalf("%s holds a secret: %s", rec.Envelope.Type, rec.Raw)
			}
		}
	}
	if got := strings.Join(names, " "); got != "bindery.qr_created.v1 bindery.qr_scanned.v1 bindery.qr_confirmed.v1 bindery.qr_consumed.v1" {
		t.Fatalf("events: %s", got)
	}
	if recs[1].Envelope.Actor != alice || recs[3].Event.(events.QRConsumed).SessionID == "" {
		t.Fatalf("scan actor %q, consumed %+v", recs[1].Envelope.Actor, recs[3].Event)
	}
	created := recs[0].Event.(events.QRCreated)
	if created.RequesterIP != "203.0.113.9" || created.UserAgent != ua || created.PollTokenHash == "" || created.App != qrApp {
		t.Fatalf("qr_created: %+v", created)
	}
	logs := env.Logs.String()
	for _, secret := range []string{q.PollToken, st.IDToken, st.SessionToken} {
		if strings.Contains(logs, secret) {
			t.Fatal("a token in the logs")
		}
	}
}

func TestQRCancelAndBadInput(t *testing.T) {
	env := startQR(t, "", nil)
	_, aliceTok := env.user("Alice")
	q := env.start("X-Forwarded-For", "203.0.113.9")
	scan := env.step(q, "scan", aliceTok)
	m := qrWantState(t, "scan", scan, "SCANNED")
	if ip := m["requester"].(map[string]any)["ip"]; ip != "127.0.0.1" {
		t.Fatalf("X-Forwarded-For believed without a trusted proxy: %v", ip)
	}
	qrWantState(t, "cancel", env.step(q, "cancel", aliceTok), "CANCELLED")
	qrProblem(t, "confirm after cancel", env.step(q, "confirm", aliceTok), 410, "qr_cancelled")
	qrProblem(t, "cancel after cancel", env.step(q, "cancel", aliceTok), 410, "qr_cancelled")
	qrProblem(t, "scan after cancel", env.step(q, "scan", aliceTok), 410, "qr_cancelled")
	testenv.Eventually(t, 5*time.Second, func() bool { _, st := env.poll(q, ""); return st.State == "CANCELLED" })
	_, st := env.poll(q, "?wait=5") // a final state answers at once
	if st.State != "CANCELLED" || st.IDToken != "" || st.ExpiresIn != 0 {
		t.Fatalf("cancelled: %+v", st)
	}

	for _, tt := range []struct {
		what, method, path string
		status             int
		code               string
	}{
		{"wait not a number", "GET", "/v1/qr/" + q.QRID + "?wait=soon", 400, "validation_failed"},
		{"negative wait", "GET", "/v1/qr/" + q.QRID + "?wait=-1", 400, "validation_failed"},
		{"wait above 30 (issue 13, finding 6)", "GET", "/v1/qr/" + q.QRID + "?wait=1000000000", 400, "validation_failed"},
		{"wait 31", "GET", "/v1/qr/" + q.QRID + "?wait=31", 400, "validation_failed"},
		{"unknown state", "GET", "/v1/qr/" + q.QRID + "?state=DONE", 400, "validation_failed"},
		{"unknown app", "POST", "/v1/apps/nope/qr", 404, "app_not_found"},
		{"malformed app", "POST", "/v1/apps/No%20Such/qr", 404, "app_not_found"},
		{"image of unknown", "GET", "/v1/qr/AAAAAAAAAAAAAAAAAAAAAA/image.png", 404, "qr_not_found"},
		{"image of a cancelled one", "GET", "/v1/qr/" + q.QRID + "/image.png", 410, "qr_cancelled"},
		{"events of unknown", "GET", "/v1/qr/AAAAAAAAAAAAAAAAAAAAAA/events", 404, "qr_not_found"},
	} {
		qrProblem(t, tt.what, env.Do(tt.method, tt.path, nil, "X-Poll-Token", q.PollToken), tt.status, tt.code)
	}
	// The QR commands take no input: no body or {} is fine, anything else
	// is a validation problem (not silently ignored, not a 500).
	q2 := env.start()
	if r := env.Do("POST", "/v1/qr/"+q2.QRID+"/scan", "{not json", "Authorization", "Bearer "+aliceTok); r.Status != 400 {
		t.Fatalf("scan with a junk body: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/v1/apps/"+qrApp+"/qr", `{"bogus":1}`); r.Status != 400 {
		t.Fatalf("start with an unknown field: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/v1/apps/"+qrApp+"/qr", `{}`); r.Status != 201 {
		t.Fatalf("start with {}: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/v1/qr/"+q2.QRID+"/scan", `{}`, "Authorization", "Bearer "+aliceTok); r.Status != 200 {
		t.Fatalf("scan with {}: %d %s", r.Status, r.Body)
	}
}

// Expiry is decided on the (injected) clock and recorded as qr_expired by
// the step or the poll that finds it.
func TestQRExpiry(t *testing.T) {
	env := startQR(t, "", nil)
	_, aliceTok := env.user("Alice")
	qrEvents := func(q qrStarted) []string {
		recs, err := env.App.Store.Load(context.Background(), events.Aggregate{Type: "qr", ID: q.QRID}, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range recs {
			out = append(out, r.Event.EventName())
		}
		return out
	}
	pending := env.start()
	scanned := env.start()
	qrWantState(t, "scan", env.step(scanned, "scan", aliceTok), "SCANNED")
	confirmed := env.start()
	qrWantState(t, "scan", env.step(confirmed, "scan", aliceTok), "SCANNED")
	qrWantState(t, "confirm", env.step(confirmed, "confirm", aliceTok), "CONFIRMED")
	polled := env.start()

	env.clock.Advance(300 * time.Second)
	qrProblem(t, "scan after expiry", env.step(pending, "scan", aliceTok), 410, "qr_expired")
	qrProblem(t, "confirm after expiry", env.step(scanned, "confirm", aliceTok), 410, "qr_expired")
	qrProblem(t, "cancel after expiry", env.step(scanned, "cancel", aliceTok), 410, "qr_expired")
	for _, q := range []qrStarted{polled, confirmed} {
		_, st := env.poll(q, "?wait=3")
		if st.State != "EXPIRED" || st.IDToken != "" {
			t.Fatalf("poll after expiry: %+v", st)
		}
	}
	qrProblem(t, "image after expiry", env.Do("GET", "/v1/qr/"+polled.QRID+"/image.png", nil), 410, "qr_expired")
	for name, q := range map[string]qrStarted{"pending": pending, "scanned": scanned, "confirmed": confirmed, "polled": polled} {
		evs := qrEvents(q)
		if evs[len(evs)-1] != "qr_expired" || strings.Count(strings.Join(evs, " "), "qr_expired") != 1 {
			t.Errorf("%s: events %v", name, evs)
		}
	}
	// Seen by the view too.
	testenv.Eventually(t, 5*time.Second, func() bool {
		s, ok := env.App.QRs.Get(confirmed.QRID)
		return ok && s.State == "EXPIRED"
	})
}

// Two (or more) pollers racing for one confirmed login: exactly one gets
// the tokens, every other sees CONSUMED without them.
func TestQRTokensOnce(t *testing.T) {
	env := startQR(t, "", nil)
	_, aliceTok := env.user("Alice")
	const rounds, pollers = 25, 4
	for round := range rounds {
		q := env.start()
		qrWantState(t, "scan", env.step(q, "scan", aliceTok), "SCANNED")
		c := env.step(q, "confirm", aliceTok)
		qrWantState(t, "confirm", c, "CONFIRMED")
		var wg sync.WaitGroup
		results := make([]qrStatus, pollers)
		codes := make([]int, pollers)
		start := make(chan struct{})
		for i := range pollers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, _ := http.NewRequest("GET", env.URL+"/v1/qr/"+q.QRID+"?wait=5&min_position="+c.Header.Get("X-Bindery-Position"), nil)
				req.Header.Set("X-Poll-Token", q.PollToken)
				resp, err := env.Client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				codes[i] = resp.StatusCode
				_ = json.NewDecoder(resp.Body).Decode(&results[i])
			}()
		}
		close(start)
		wg.Wait()
		got := 0
		for i, st := range results {
			if codes[i] != 200 || st.State != "CONSUMED" {
				t.Fatalf("round %d poller %d: %d %+v", round, i, codes[i], st)
			}
			if st.IDToken != "" {
				got++
			}
		}
		if got != 1 {
			t.Fatalf("round %d: %d pollers got tokens, want exactly 1", round, got)
		}
	}
}

// The PC long-polls; the phone confirms; the PC's request returns within
// 200 ms of the confirmation, with the tokens.
func TestQRLongPoll(t *testing.T) {
	env := startQR(t, "", nil)
	_, aliceTok := env.user("Alice")
	q := env.start()

	type answer struct {
		st  qrStatus
		at  time.Time
		err string
	}
	longPoll := func(query string) <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			req, _ := http.NewRequest("GET", env.URL+"/v1/qr/"+q.QRID+query, nil)
			req.Header.Set("X-Poll-Token", q.PollToken)
			resp, err := env.Client.Do(req)
			if err != nil {
				ch <- answer{err: err.Error()}
				return
			}
			defer resp.Body.Close()
			var st qrStatus
			err = json.NewDecoder(resp.Body).Decode(&st)
			a := answer{st: st, at: time.Now()}
			if err != nil || resp.StatusCode != 200 {
				a.err = resp.Status
			}
			ch <- a
		}()
		return ch
	}
	// wokenWithin bounds how long a change takes to reach a parked poll:
	// a small fraction of its 30 s wait.
	const wokenWithin = 3 * time.Second
	// A wait with no change holds the answer for the whole wait.
	idle := env.start()
	begin := time.Now()
	r := env.Do("GET", "/v1/qr/"+idle.QRID+"?wait=1", nil, "X-Poll-Token", idle.PollToken)
	if r.Status != 200 || r.Map(t)["state"] != "PENDING" || time.Since(begin) < 900*time.Millisecond {
		t.Fatalf("idle wait: %d %s after %v", r.Status, r.Body, time.Since(begin))
	}

	parked := func() {
		t.Helper()
		testenv.Eventually(t, 5*time.Second, func() bool { return env.App.QRs.Watched(q.QRID) })
	}
	pending := longPoll("?wait=30&state=PENDING")
	parked()
	qrWantState(t, "scan", env.step(q, "scan", aliceTok), "SCANNED")
	scanned := time.Now()
	a := <-pending
	if a.err != "" || a.st.State != "SCANNED" || a.st.ScannedBy == nil || a.st.ScannedBy.DisplayName != "Alice" {
		t.Fatalf("long-poll after scan: %+v", a)
	}
	// The wake-up is event-driven (no polling loop), so the answer comes
	// long before the 30 s wait ends; the bound leaves room for a loaded
	// machine without letting a wait-out pass.
	if d := a.at.Sub(scanned); d > wokenWithin {
		t.Fatalf("the scan reached the poller after %v, want ≤ %v", d, wokenWithin)
	}

	confirmedCh := longPoll("?wait=30&state=SCANNED")
	parked()
	qrWantState(t, "confirm", env.step(q, "confirm", aliceTok), "CONFIRMED")
	confirmed := time.Now()
	a = <-confirmedCh
	delay := a.at.Sub(confirmed)
	t.Logf("confirmation to the PC's answer: %v", delay)
	if a.err != "" || a.st.State != "CONSUMED" || a.st.IDToken == "" {
		t.Fatalf("long-poll after confirm: %+v", a)
	}
	if delay > wokenWithin {
		t.Fatalf("the PC's answer came %v after the confirmation, want ≤ %v", delay, wokenWithin)
	}
	// A poll that already knows an older state answers at once.
	begin = time.Now()
	if _, st := env.poll(q, "?wait=30&state=PENDING"); st.State != "CONSUMED" || time.Since(begin) > 2*time.Second {
		t.Fatalf("known=PENDING: %+v after %v", st, time.Since(begin))
	}
}

// Two bindery servers on one NATS: the PC polls one, the phone scans and
// confirms on the other.
func TestQRTwoReplicas(t *testing.T) {
	ns := natstest.Server(t, "")
	// One issuer, as replicas behind one address have.
	shared := map[string]string{"BINDERY_NATS_URL": ns.ClientURL(), "BINDERY_ISSUER": "http://bindery.test"}
	a := startQR(t, t.TempDir(), shared)
	b := &qrEnv{Env: testenv.Start(t, t.TempDir(), shared, server.WithClock(a.clock.Now)), clock: a.clock}
	alice, _ := a.user("Alice")
	testenv.Eventually(t, 10*time.Second, func() bool { _, ok := b.App.Accounts.Get(alice); return ok })
	aliceOnB := b.login(alice)

	q := a.start()
	// Right after the start, replica b may not have it in its view yet:
	// it reads the store.
	qrWantState(t, "poll on b", b.Do("GET", "/v1/qr/"+q.QRID, nil, "X-Poll-Token", q.PollToken), "PENDING")

	type answer struct {
		st  qrStatus
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", a.URL+"/v1/qr/"+q.QRID+"?wait=30&state=PENDING", nil)
		req.Header.Set("X-Poll-Token", q.PollToken)
		resp, err := a.Client.Do(req)
		if err != nil {
			ch <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var st qrStatus
		err = json.NewDecoder(resp.Body).Decode(&st)
		ch <- answer{st, err}
	}()
	qrWantState(t, "scan on b", b.step(q, "scan", aliceOnB), "SCANNED")
	got := <-ch
	if got.err != nil || got.st.State != "SCANNED" {
		t.Fatalf("poll on a after the scan on b: %+v", got)
	}
	go func() {
		req, _ := http.NewRequest("GET", a.URL+"/v1/qr/"+q.QRID+"?wait=30&state=SCANNED", nil)
		req.Header.Set("X-Poll-Token", q.PollToken)
		resp, err := a.Client.Do(req)
		if err != nil {
			ch <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var st qrStatus
		err = json.NewDecoder(resp.Body).Decode(&st)
		ch <- answer{st, err}
	}()
	qrWantState(t, "confirm on b", b.step(q, "confirm", aliceOnB), "CONFIRMED")
	got = <-ch
	if got.err != nil || got.st.State != "CONSUMED" || got.st.AccountID != alice || got.st.IDToken == "" {
		t.Fatalf("poll on a after the confirm on b: %+v", got)
	}
	// b sees it consumed, and hands nothing out.
	testenv.Eventually(t, 5*time.Second, func() bool {
		r := b.Do("GET", "/v1/qr/"+q.QRID, nil, "X-Poll-Token", q.PollToken)
		return r.Status == 200 && r.Map(t)["state"] == "CONSUMED" && r.Map(t)["id_token"] == nil
	})
	// The PC's token works on b too.
	if r := b.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+got.st.IDToken); r.Status != 200 {
		t.Fatalf("userinfo on b: %d %s", r.Status, r.Body)
	}

	// Racing pollers on both replicas: still exactly one gets the tokens.
	for round := range 5 {
		q := a.start()
		qrWantState(t, "scan", b.step(q, "scan", aliceOnB), "SCANNED")
		c := b.step(q, "confirm", aliceOnB)
		qrWantState(t, "confirm", c, "CONFIRMED")
		var wg sync.WaitGroup
		var mu sync.Mutex
		tokens := 0
		for i := range 4 {
			env := []*qrEnv{a, b}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", env.URL+"/v1/qr/"+q.QRID+"?min_position="+c.Header.Get("X-Bindery-Position"), nil)
				req.Header.Set("X-Poll-Token", q.PollToken)
				resp, err := env.Client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				var st qrStatus
				if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.State != "CONSUMED" {
					t.Errorf("round %d: %d %+v %v", round, resp.StatusCode, st, err)
				}
				if st.IDToken != "" {
					mu.Lock()
					tokens++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if tokens != 1 {
			t.Fatalf("round %d: %d pollers across replicas got tokens", round, tokens)
		}
	}
}

// A restart in the middle keeps the session: same data dir, same poll
// token, the flow goes on.
func TestQRRestart(t *testing.T) {
	dir := t.TempDir()
	env := startQR(t, dir, nil)
	alice, aliceTok := env.user("Alice")
	q := env.start()
	s := env.step(q, "scan", aliceTok)
	qrWantState(t, "scan", s, "SCANNED")
	env.Close()

	env2 := startQR(t, dir, nil)
	// The issuer is the new server's URL: log in again there.
	testenv.Eventually(t, 10*time.Second, func() bool { _, ok := env2.App.Accounts.Get(alice); return ok })
	tok := env2.login(alice)
	qrWantState(t, "poll after restart", env2.Do("GET", "/v1/qr/"+q.QRID+"?min_position="+s.Header.Get("X-Bindery-Position"), nil, "X-Poll-Token", q.PollToken), "SCANNED")
	qrProblem(t, "scan again after restart", env2.step(q, "scan", tok), 409, "qr_state")
	qrWantState(t, "confirm after restart", env2.step(q, "confirm", tok), "CONFIRMED")
	testenv.Eventually(t, 5*time.Second, func() bool { _, st := env2.poll(q, ""); return st.State == "CONSUMED" && st.IDToken != "" })
}

// The image is a PNG QR code of qr_url.
func TestQRImage(t *testing.T) {
	env := startQR(t, "", nil)
	q := env.start()
	r := env.Do("GET", "/v1/qr/"+q.QRID+"/image.png", nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(r.Header.Get("Cache-Control"), "private, max-age=") {
		t.Fatalf("image: %d %v", r.Status, r.Header)
	}
	img, err := png.Decode(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 320 {
		t.Fatalf("image size %v", b)
	}
	if got := decodeQR(t, img); got != q.QRURL {
		t.Fatalf("the code holds %q, want %q", got, q.QRURL)
	}
}

func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("not a readable QR code: %v", err)
	}
	return res.GetText()
}

// The event stream delivers every state, the tokens once, then ends.
func TestQREventStream(t *testing.T) {
	env := startQR(t, "", nil)
	_, aliceTok := env.user("Alice")
	q := env.start()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", env.URL+"/v1/qr/"+q.QRID+"/events?poll_token="+q.PollToken, nil)
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %v", resp.StatusCode, resp.Header)
	}
	type sse struct {
		event string
		st    qrStatus
	}
	msgs := make(chan sse, 8)
	go func() {
		defer close(msgs)
		sc := bufio.NewScanner(resp.Body)
		var ev string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var st qrStatus
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &st)
				msgs <- sse{ev, st}
			}
		}
	}()
	next := func(want string) qrStatus {
		t.Helper()
		select {
		case m, ok := <-msgs:
			if !ok || m.event != "state" || m.st.State != want {
				t.Fatalf("stream: %+v (open %v), want %s", m, ok, want)
			}
			return m.st
		case <-ctx.Done():
			t.Fatalf("no %s event", want)
		}
		return qrStatus{}
	}
	next("PENDING")
	qrWantState(t, "scan", env.step(q, "scan", aliceTok), "SCANNED")
	if st := next("SCANNED"); st.ScannedBy == nil || st.ScannedBy.DisplayName != "Alice" {
		t.Fatalf("scanned event: %+v", st)
	}
	qrWantState(t, "confirm", env.step(q, "confirm", aliceTok), "CONFIRMED")
	if st := next("CONSUMED"); st.IDToken == "" || st.SessionToken == "" {
		t.Fatalf("consumed event without tokens: %+v", st)
	}
	select {
	case m, ok := <-msgs:
		if ok {
			t.Fatalf("stream goes on after the end: %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("the stream did not end")
	}
	// Reconnecting shows the end, without tokens.
	r := env.Do("GET", "/v1/qr/"+q.QRID+"/events", nil, "X-Poll-Token", q.PollToken)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"state":"CONSUMED"`) || strings.Contains(string(r.Body), "id_token") {
		t.Fatalf("reconnect: %d %s", r.Status, r.Body)
	}
	qrProblem(t, "stream without token", env.Do("GET", "/v1/qr/"+q.QRID+"/events", nil), 401, "poll_token_required")
}
