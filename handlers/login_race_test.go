package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/bindery/bindery/events"
)

// rawPost is a goroutine-safe POST that reports status, problem code and
// position.
func rawPost(url string, body any) (int, string, string) {
	data, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		return 0, err.Error(), ""
	}
	defer resp.Body.Close()
	var p struct {
		Code string `json:"code"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&p)
	return resp.StatusCode, p.Code, resp.Header.Get("X-Bindery-Position")
}

// Two tickets of one WeChat user race to bind it to two accounts: exactly
// one wins, the other gets 409 already_bound — fifty times over.
func TestBindingRace(t *testing.T) {
	e := startLogin(t)
	shop := e.wechatApp("shop", "platform-race", nil)
	accs := []string{
		e.account(map[string]any{"username": "race-a", "password": "race-a-password"}),
		e.account(map[string]any{"username": "race-b", "password": "race-b-password"}),
	}
	names := []string{"race-a", "race-b"}
	wins := map[string]int{}
	last := ""
	for i := 0; i < 50; i++ {
		user := e.simUser("")
		var tickets [2]any
		for j := range tickets {
			out := e.post("/v1/apps/shop/login/code", map[string]any{"code": e.code(shop, user)}, 200, "")
			tickets[j] = out["bind_ticket"]
		}
		var wg sync.WaitGroup
		var status [2]int
		var codes, pos [2]string
		for j := 0; j < 2; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status[j], codes[j], pos[j] = rawPost(e.URL+"/v1/bind/password", map[string]any{
					"bind_ticket": tickets[j], "username": names[j], "password": names[j] + "-password",
				})
			}()
		}
		wg.Wait()
		winner := -1
		for j := 0; j < 2; j++ {
			switch {
			case status[j] == 200 && winner == -1:
				winner = j
			case status[j] == 409 && codes[j] == "already_bound":
			default:
				t.Fatalf("round %d: statuses %v codes %v", i, status, codes)
			}
		}
		if winner == -1 {
			t.Fatalf("round %d: nobody won: %v %v", i, status, codes)
		}
		wins[accs[winner]]++
		last = pos[winner]
		sees := e.simSees(shop, user)
		for kind, value := range map[string]string{events.ClaimOpenID: "shop|" + sees["openid"].(string), events.ClaimUnionID: sees["unionid"].(string)} {
			owner, err := e.App.Store.Owner(context.Background(), kind, value)
			if err != nil || owner != accs[winner] {
				t.Fatalf("round %d: %s owner %q (err %v), want %s", i, kind, owner, err, accs[winner])
			}
		}
	}
	// The views agree: every identity sits on exactly one account.
	total := 0
	seen := map[string]bool{}
	for _, id := range accs {
		for _, b := range bindings(e.read(id, last)) {
			key := b["kind"].(string) + "|" + b["subject"].(string)
			if seen[key] {
				t.Fatalf("%s bound twice", key)
			}
			seen[key] = true
			total++
		}
	}
	if total != 100 {
		t.Fatalf("%d bindings, want 100 (50 openids, 50 unionids); wins %v", total, wins)
	}
}
