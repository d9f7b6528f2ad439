package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Request is one HTTP exchange of the workload and how it ended.
type Request struct {
	Op         string // login, register, qr_start, qr_scan, qr_confirm, qr_poll
	Replica    int
	Start, End time.Time
	Status     int    // 0: no answer (transport error or client deadline)
	Code       string // the problem's code
	RetryAfter string
	Err        string
	RequestID  string // sent as X-Request-Id, stored with the events it wrote
	// Write is set on a 2xx answer to a command that appends events: the
	// stream must hold an event with RequestID afterwards.
	Write bool
	User  string // the simulated WeChat user (login, register)
}

// Workload runs mini-program logins, registrations (two at once for the
// same new identity, on different replicas) and QR logins (started on one
// replica, scanned and confirmed on another, consumed on the first) against
// the replicas, through wxsim, recording every request.
type Workload struct {
	Replicas []string // base URLs
	Sim      string   // wxsim base URL
	App      string   // a wechat app with on_no_match register and a QR mode
	AppID    string   // its appid at wxsim
	// Timeout is the client's deadline per request (beyond the wait of a
	// long-poll); a request that reaches it counts as hung.
	Timeout time.Duration

	http  *http.Client
	seq   atomic.Int64
	mu    sync.Mutex
	reqs  []Request
	users []user // registered: logins pick from here
}

type user struct {
	sim, account, idToken string
}

// Requests is a copy of what was recorded so far.
func (w *Workload) Requests() []Request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Request(nil), w.reqs...)
}

func (w *Workload) client() *http.Client {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.http == nil {
		w.http = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	}
	return w.http
}

// call sends one request to replica r (or to wxsim when r < 0) and
// records it unless r < 0; out receives a 2xx JSON answer.
func (w *Workload) call(ctx context.Context, op string, r int, method, path string, hdr map[string]string, body, out any, write bool, wait time.Duration) (Request, http.Header) {
	base := w.Sim
	if r >= 0 {
		base = w.Replicas[r]
	}
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(ctx, w.Timeout+wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := Request{Op: op, Replica: r, Start: time.Now(), RequestID: fmt.Sprintf("load-%d-%d", time.Now().UnixNano(), w.seq.Add(1))}
	req.Header.Set("X-Request-Id", rec.RequestID)
	resp, err := w.client().Do(req)
	var h http.Header
	if err != nil {
		rec.Err = err.Error()
	} else {
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rec.Status, rec.RetryAfter, h = resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header
		if resp.StatusCode/100 == 2 {
			rec.Write = write
			if out != nil {
				_ = json.Unmarshal(data, out)
			}
		} else {
			var p struct {
				Code string `json:"code"`
			}
			_ = json.Unmarshal(data, &p)
			rec.Code = p.Code
		}
	}
	rec.End = time.Now()
	if r >= 0 {
		w.mu.Lock()
		w.reqs = append(w.reqs, rec)
		w.mu.Unlock()
	}
	return rec, h
}

type answer struct {
	Status     string `json:"status"`
	AccountID  string `json:"account_id"`
	IDToken    string `json:"id_token"`
	BindTicket string `json:"bind_ticket"`
}

// code mints a wx.login code at wxsim.
func (w *Workload) code(ctx context.Context, simUser string) (string, bool) {
	var c struct {
		Code string `json:"code"`
	}
	rec, _ := w.call(ctx, "", -1, http.MethodPost, "/sim/login", nil, map[string]string{"appid": w.AppID, "user": simUser}, &c, false, 0)
	return c.Code, rec.Status/100 == 2 && c.Code != ""
}

func (w *Workload) login(ctx context.Context, r int, simUser string) (answer, Request) {
	var a answer
	code, ok := w.code(ctx, simUser)
	if !ok {
		return a, Request{}
	}
	rec, _ := w.call(ctx, "login", r, http.MethodPost, "/v1/apps/"+w.App+"/login/code", nil, map[string]string{"code": code}, &a, true, 0)
	return a, rec
}

// Register makes a new WeChat user, logs it in on two replicas and
// registers both bind tickets at once, one on each: at most one may bind
// the identity. A registered user joins the pool that logins use.
func (w *Workload) Register(ctx context.Context, i int) {
	var u struct {
		User string `json:"user"`
	}
	if rec, _ := w.call(ctx, "", -1, http.MethodPost, "/sim/users", nil, map[string]string{"nickname": fmt.Sprintf("load %d", i)}, &u, false, 0); rec.Status/100 != 2 {
		return
	}
	r1, r2 := i%len(w.Replicas), (i+1)%len(w.Replicas)
	a1, rec1 := w.login(ctx, r1, u.User)
	a2, rec2 := w.login(ctx, r2, u.User)
	if rec1.Status != http.StatusOK || rec2.Status != http.StatusOK || a1.BindTicket == "" || a2.BindTicket == "" {
		return
	}
	var wg sync.WaitGroup
	var got [2]answer
	var recs [2]Request
	for k, t := range []struct {
		r      int
		ticket string
	}{{r1, a1.BindTicket}, {r2, a2.BindTicket}} {
		wg.Go(func() {
			body := map[string]string{"bind_ticket": t.ticket, "display_name": "Load user"}
			recs[k], _ = w.call(ctx, "register", t.r, http.MethodPost, "/v1/register", nil, body, &got[k], true, 0)
		})
	}
	wg.Wait()
	for k := range 2 {
		if recs[k].Status == http.StatusOK && got[k].AccountID != "" {
			w.setUser(recs[k], u.User)
			w.mu.Lock()
			w.users = append(w.users, user{sim: u.User, account: got[k].AccountID, idToken: got[k].IDToken})
			w.mu.Unlock()
		}
	}
}

// setUser notes the simulated user on a recorded request.
func (w *Workload) setUser(rec Request, simUser string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.reqs {
		if w.reqs[i].RequestID == rec.RequestID {
			w.reqs[i].User = simUser
		}
	}
}

func (w *Workload) pick(i int) (user, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.users) == 0 {
		return user{}, false
	}
	return w.users[i%len(w.users)], true
}

// Users are the registered users: WeChat user -> account.
func (w *Workload) Users() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]string{}
	for _, u := range w.users {
		out[u.sim] = u.account
	}
	return out
}

// Login logs a registered user in on replica i mod n.
func (w *Workload) Login(ctx context.Context, i int) {
	u, ok := w.pick(i)
	if !ok {
		return
	}
	w.login(ctx, i%len(w.Replicas), u.sim)
}

// QR runs one PC QR login: started and consumed on one replica, scanned
// and confirmed by a registered user on the other.
func (w *Workload) QR(ctx context.Context, i int) {
	u, ok := w.pick(i)
	if !ok {
		return
	}
	pc, phone := i%len(w.Replicas), (i+1)%len(w.Replicas)
	// The phone logs in first (a user's earlier id_token may belong to a
	// session that a later login replaced).
	a, rec := w.login(ctx, phone, u.sim)
	if rec.Status != http.StatusOK || a.IDToken == "" {
		return
	}
	u.idToken = a.IDToken
	var q struct {
		ID   string `json:"qr_id"`
		Poll string `json:"poll_token"`
	}
	rec, h := w.call(ctx, "qr_start", pc, http.MethodPost, "/v1/apps/"+w.App+"/qr", nil, map[string]string{}, &q, true, 0)
	if rec.Status != http.StatusCreated {
		return
	}
	auth := map[string]string{"Authorization": "Bearer " + u.idToken, "X-Bindery-Position": h.Get("X-Bindery-Position")}
	for _, step := range []string{"scan", "confirm"} {
		rec, h = w.call(ctx, "qr_"+step, phone, http.MethodPost, "/v1/qr/"+q.ID+"/"+step, auth, map[string]string{}, nil, true, 0)
		if rec.Status != http.StatusOK {
			return
		}
		auth["X-Bindery-Position"] = h.Get("X-Bindery-Position")
	}
	var st struct {
		State   string `json:"state"`
		IDToken string `json:"id_token"`
	}
	poll := map[string]string{"X-Poll-Token": q.Poll, "X-Bindery-Position": auth["X-Bindery-Position"]}
	w.call(ctx, "qr_poll", pc, http.MethodGet, "/v1/qr/"+q.ID+"?wait=5&state=CONFIRMED", poll, nil, &st, false, 5*time.Second)
}

// Run loops each of the kinds on its own workers until ctx ends; the
// requests themselves run to their own deadline, so that none is recorded
// as failed because the run stopped.
func (w *Workload) Run(ctx context.Context, logins, registers, qrs int) {
	var wg sync.WaitGroup
	var n atomic.Int64
	for _, k := range []struct {
		workers int
		op      func(context.Context, int)
	}{{logins, w.Login}, {registers, w.Register}, {qrs, w.QR}} {
		for range k.workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					k.op(context.WithoutCancel(ctx), int(n.Add(1)))
				}
			})
		}
	}
	wg.Wait()
}
