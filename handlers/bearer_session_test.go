package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/sessions"
)

// loginSession starts a session for an existing account, as a mini-program
// login ends, and answers both of its tokens.
func (e *qrEnv) loginSession(accountID string) sessions.Issued {
	e.T.Helper()
	acc, ok := e.App.Accounts.Get(accountID)
	if !ok {
		e.T.Fatalf("account %s not in the view", accountID)
	}
	change, issued, err := e.App.Sessions.Start(sessions.ClaimsFor(acc), qrApp, []string{"test"}, e.clock.Now())
	if err != nil {
		e.T.Fatal(err)
	}
	if _, err := e.App.Store.Append(context.Background(), events.Meta{Actor: accountID, Time: e.clock.Now()}, change); err != nil {
		e.T.Fatal(err)
	}
	return issued
}

// The id_token of an ended session opens nothing: not a QR scan, not a QR
// confirmation (which would mint a fresh session for the PC), not userinfo
// — whether the session was logged out or revoked by reuse detection. The
// check is made on the session itself, not on the token's signature alone.
func TestBearerOfEndedSessionIsRefused(t *testing.T) {
	env := startQR(t, "", nil)
	acc, _ := env.user("Mallory")

	refused := func(what, idToken string) {
		t.Helper()
		q := env.start()
		qrProblem(t, what+": scan", env.step(q, "scan", idToken), http.StatusUnauthorized, "invalid_token")
		r := env.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+idToken)
		qrProblem(t, what+": userinfo", r, http.StatusUnauthorized, "invalid_token")
	}

	// Logged out.
	out := env.loginSession(acc)
	if r := env.Do("GET", "/v1/userinfo", nil, "Authorization", "Bearer "+out.IDToken); r.Status != http.StatusOK {
		t.Fatalf("userinfo of a live session: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/v1/sessions/revoke", map[string]string{"session_token": out.SessionToken}); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	refused("revoked session", out.IDToken)

	// Revoked by reuse detection: the rotated-away token is presented again;
	// both the old and the new id_token die with the family.
	fam := env.loginSession(acc)
	r := env.Do("POST", "/v1/sessions/refresh", map[string]string{"session_token": fam.SessionToken})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	var next sessions.Issued
	r.JSON(t, &next)
	qrProblem(t, "reuse", env.Do("POST", "/v1/sessions/refresh", map[string]string{"session_token": fam.SessionToken}), http.StatusUnauthorized, "session_reused")
	refused("reuse-revoked session (first id_token)", fam.IDToken)
	refused("reuse-revoked session (rotated id_token)", next.IDToken)

	// A confirmation after the scan: the scanner's session ends in between.
	live := env.loginSession(acc)
	q := env.start()
	scan := env.step(q, "scan", live.IDToken)
	qrWantState(t, "scan with a live session", scan, "SCANNED")
	if r := env.Do("POST", "/v1/sessions/revoke", map[string]string{"session_token": live.SessionToken}); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	qrProblem(t, "confirm after the session ended", env.step(q, "confirm", live.IDToken), http.StatusUnauthorized, "invalid_token")
	// Read at the scan's position: the view may not hold it yet.
	pos := scan.Header.Get("X-Bindery-Position")
	if pos == "" {
		t.Fatalf("the scan's answer names no position: %v", scan.Header)
	}
	if _, st := env.poll(q, "?min_position="+url.QueryEscape(pos)); st.State != "SCANNED" || st.IDToken != "" {
		t.Fatalf("the QR moved on a dead session's confirmation: %+v", st)
	}
}

// A disabled account's id_token cannot scan a QR either (its sessions may
// not have been revoked yet: that happens at their next refresh).
func TestBearerOfDisabledAccountIsRefused(t *testing.T) {
	env := startQR(t, "", nil)
	acc, tok := env.user("Trudy")
	d := env.Admin("DELETE", "/v1/accounts/"+acc, nil)
	if d.Status != http.StatusOK {
		t.Fatalf("disable: %d %s", d.Status, d.Body)
	}
	qrProblem(t, "scan by a disabled account", env.step(env.start(), "scan", tok), http.StatusForbidden, "account_disabled")
}
