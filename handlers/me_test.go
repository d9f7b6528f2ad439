package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/domain/browsersession"
	"github.com/bindery/bindery/events"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
	"github.com/bindery/bindery/internal/crypto/hostcode"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// meData is the part of GET /v1/me/data the tests read.
type meData struct {
	Account struct {
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		Phone       string `json:"phone"`
		Email       string `json:"email"`
		Username    string `json:"username"`
	} `json:"account"`
	Bindings []struct {
		Kind    string `json:"kind"`
		App     string `json:"app"`
		Subject string `json:"subject"`
	} `json:"bindings"`
	Roles []struct {
		Role        string   `json:"role"`
		Org         string   `json:"org"`
		Permissions []string `json:"permissions"`
	} `json:"roles"`
	Orgs []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"orgs"`
	History []struct {
		Type    string          `json:"type"`
		Subject string          `json:"subject"`
		Data    json.RawMessage `json:"data"`
	} `json:"history"`
	HistoryNext string `json:"history_next"`
	HistoryMore bool   `json:"history_more"`
}

// hostLogin logs the host app's user in and answers both session tokens.
func hostLogin(t *testing.T, env *testenv.Env, externalID string) (idToken, sessionToken string) {
	t.Helper()
	r := env.Do("POST", "/v1/apps/crm/login/code", `{"code":"`+hostcode.Mint([]byte(accessHostSecret), externalID, time.Now().Add(time.Minute), hostcode.NewNonce())+`"}`)
	m := r.Map(t)
	idToken, _ = m["id_token"].(string)
	sessionToken, _ = m["session_token"].(string)
	if r.Status != http.StatusOK || idToken == "" || sessionToken == "" {
		t.Fatalf("host login %s: %d %s", externalID, r.Status, r.Body)
	}
	return idToken, sessionToken
}

func readMe(t *testing.T, env *testenv.Env, token string, query string) (testenv.Response, meData) {
	t.Helper()
	r := env.Do("GET", "/v1/me/data"+query, nil, "Authorization", "Bearer "+token)
	var d meData
	if r.Status == http.StatusOK {
		r.JSON(t, &d)
	}
	return r, d
}

// Done-when 4 of issue 12: GET /v1/me/data answers the bearer's own
// account, bindings, roles, orgs and history, personal values opened and
// secrets left out, for a mini-program id_token and for a web app's access
// token alike; another person's token reads that person's data, never
// this one's; a token of an ended session, no token and a forged one get
// 401.
func TestMeDataIsThePersonsOwnOpenedData(t *testing.T) {
	env := testenv.Start(t, "", nil)
	must := func(r testenv.Response) testenv.Response {
		t.Helper()
		if r.Status >= 300 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		return r
	}
	must(env.Admin("PUT", "/v1/apps/crm", `{"kind":"host","host":{"secret":"`+accessHostSecret+`"}}`))
	ada := must(env.Admin("POST", "/v1/accounts", `{"external_id":"A1","username":"ada.l","display_name":"Ada Lovelace","phone":"+8613900007001","email":"ada@example.org","password":"correct horse battery staple"}`)).Map(t)["id"].(string)
	bob := must(env.Admin("POST", "/v1/accounts", `{"external_id":"B1","display_name":"Bob Byron","phone":"+8613900007002"}`)).Map(t)["id"].(string)
	must(env.Admin("PUT", "/v1/roles/reader", `{"permissions":["report:read"]}`))
	must(env.Admin("PUT", "/v1/orgs/acme", `{"name":"Acme Analytical Engines"}`))
	must(env.Admin("POST", "/v1/orgs/acme/members", `{"account_id":"`+ada+`"}`))
	pos := must(env.Admin("POST", "/v1/accounts/"+ada+"/roles", `{"role":"reader","org":"acme"}`)).Header.Get("X-Bindery-Position")
	must(env.Admin("GET", "/v1/accounts/"+ada+"?min_position="+url.QueryEscape(pos), nil))

	adaID, adaSession := hostLogin(t, env, "A1")
	bobID, _ := hostLogin(t, env, "B1")

	r, d := readMe(t, env, adaID, "")
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Ada's data: %d %s", r.Status, r.Body)
	}
	if d.Account.ID != ada || d.Account.DisplayName != "Ada Lovelace" || d.Account.Phone != "+8613900007001" ||
		d.Account.Email != "ada@example.org" || d.Account.Username != "ada.l" {
		t.Fatalf("account: %+v", d.Account)
	}
	if len(d.Bindings) == 0 || d.Bindings[0].App != "crm" || d.Bindings[0].Subject != "A1" {
		t.Fatalf("bindings: %+v", d.Bindings)
	}
	if len(d.Roles) != 1 || d.Roles[0].Role != "reader" || d.Roles[0].Org != "acme" || strings.Join(d.Roles[0].Permissions, ",") != "report:read" {
		t.Fatalf("roles: %+v", d.Roles)
	}
	if len(d.Orgs) != 1 || d.Orgs[0].ID != "acme" || d.Orgs[0].Name != "Acme Analytical Engines" {
		t.Fatalf("orgs: %+v", d.Orgs)
	}
	types := map[string]string{}
	for _, ev := range d.History {
		types[ev.Type] = string(ev.Data)
	}
	created := types["bindery.account_created.v1"]
	if !strings.Contains(created, `"display_name":"Ada Lovelace"`) || !strings.Contains(created, `"phone":"+8613900007001"`) || strings.Contains(created, events.SealedMember) {
		t.Fatalf("account_created not opened: %s", created)
	}
	if strings.Contains(string(r.Body), "password") && !strings.Contains(string(r.Body), `"has_password":true`) || strings.Contains(string(r.Body), "password_sealed") {
		t.Fatalf("the export holds the sealed password hash: %s", r.Body)
	}
	for _, want := range []string{"bindery.org_member_added.v1", "bindery.role_granted.v1", "bindery.login_succeeded.v1", "bindery.session_issued.v1"} {
		if _, ok := types[want]; !ok {
			t.Errorf("history lacks %s: %v", want, d.History)
		}
	}
	if strings.Contains(string(r.Body), bob) || strings.Contains(string(r.Body), "Bob Byron") || strings.Contains(string(r.Body), "+8613900007002") {
		t.Fatalf("Ada's export holds Bob's data: %s", r.Body)
	}
	// The next page, from where this one stopped, is empty.
	if r, next := readMe(t, env, adaID, "?after="+url.QueryEscape(d.HistoryNext)); r.Status != http.StatusOK || len(next.History) != 0 || next.HistoryMore || d.HistoryMore {
		t.Fatalf("next page: %d %+v (more %v)", r.Status, next.History, d.HistoryMore)
	}

	// Bob's token reads Bob's data: the route takes no id, so there is
	// no way to name Ada's.
	r, bd := readMe(t, env, bobID, "")
	if r.Status != http.StatusOK || bd.Account.ID != bob || strings.Contains(string(r.Body), ada) || strings.Contains(string(r.Body), "Ada Lovelace") {
		t.Fatalf("Bob's data: %d %s", r.Status, r.Body)
	}
	if r := env.Do("GET", "/v1/me/data?account="+ada, nil, "Authorization", "Bearer "+bobID); r.Status != http.StatusBadRequest {
		t.Fatalf("naming another account: %d %s, want 400", r.Status, r.Body)
	}

	// A web app's access token of Ada's reads the same.
	pos = must(env.Admin("PUT", "/v1/oidc/clients/wiki", `{"name":"Wiki","app":"crm","type":"confidential","secret":"wiki-secret-0123456789","redirect_uris":["http://127.0.0.1/wiki/cb"]}`)).Header.Get("X-Bindery-Position")
	must(env.Admin("GET", "/v1/oidc/clients/wiki?min_position="+url.QueryEscape(pos), nil))
	wiki := webAppToken(t, env, "wiki", "wiki-secret-0123456789", "http://127.0.0.1/wiki/cb", adaID)
	if r, wd := readMe(t, env, wiki.AccessToken, ""); r.Status != http.StatusOK || wd.Account.ID != ada || wd.Account.Phone != "+8613900007001" {
		t.Fatalf("Ada's data by access token: %d %s", r.Status, r.Body)
	}

	// Refused: no token, a forged one, the id_token of an ended session,
	// the access token of an ended browser session.
	if r := env.Do("GET", "/v1/me/data", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("no token: %d %s", r.Status, r.Body)
	}
	forged := adaID[:strings.LastIndex(adaID, ".")+1] + "AAAA"
	if r, _ := readMe(t, env, forged, ""); r.Status != http.StatusUnauthorized || problemCode(t, r) != "invalid_token" {
		t.Fatalf("forged token: %d %s", r.Status, r.Body)
	}
	must(env.Do("POST", "/v1/sessions/revoke", map[string]string{"session_token": adaSession}))
	if r, _ := readMe(t, env, adaID, ""); r.Status != http.StatusUnauthorized || problemCode(t, r) != "invalid_token" {
		t.Fatalf("id_token of a revoked session: %d %s, want 401 invalid_token", r.Status, r.Body)
	}
	sid := claim(t, wiki.Extra("id_token").(string), "sid")
	browser := appoidc.NewBrowserSessions(env.App.Store, nil)
	if _, _, err := browser.Repo.Update(context.Background(), sid, events.Meta{Actor: "account:" + ada, Time: time.Now()}, func(bs *browsersession.Session) (events.Decision, error) {
		evs, err := bs.End("logout")
		return events.Decision{Events: evs}, err
	}); err != nil {
		t.Fatal(err)
	}
	if r, _ := readMe(t, env, wiki.AccessToken, ""); r.Status != http.StatusUnauthorized || problemCode(t, r) != "invalid_token" {
		t.Fatalf("access token of an ended sign-in: %d %s, want 401 invalid_token", r.Status, r.Body)
	}
}
