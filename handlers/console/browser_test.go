package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bindery/bindery/internal/devtools/browsertest"
	"github.com/bindery/bindery/internal/devtools/testenv"
)

// In headless Chromium, at 1280×800 and at 390×844: every page renders
// under the CSP with its stylesheet and without sideways scrolling; a
// search by phone, the account page, a confirmed disable, a role grant and
// a confirmed session revoke work by clicking, and the last two head the
// account's timeline with the administrator's account as actor; an erasure
// is not sent until its confirmation is ticked, and then leaves a
// tombstone. Sign-in is by QR on Bindery's hosted page (the phone's scan and
// confirm through the API), after a refused non-administrator; screenshots of every page go to artifacts/console/.
func TestConsoleInChromium(t *testing.T) {
	exe := browsertest.Chromium(t)
	env := testenv.Start(t, "", nil)
	ada := create(t, env, `{"display_name":"Ada Admin","username":"ada","email":"ada@example.com","external_id":"A1"}`)
	bob := create(t, env, `{"display_name":"Bob Lee","phone":"+8613800138001","email":"bob@example.com","external_id":"E7"}`)
	xiaoming := create(t, env, `{"display_name":"王小明","username":"xiaoming","phone":"+8613800138002"}`)
	admin(t, env, "PUT", "/v1/roles/console-admin", `{"permissions":["bindery:admin"]}`)
	admin(t, env, "PUT", "/v1/roles/seller", `{"permissions":["report:read","order:*"]}`)
	admin(t, env, "PUT", "/v1/orgs/hq", `{"name":"Headquarters"}`)
	admin(t, env, "PUT", "/v1/orgs/sales", `{"name":"Sales","parent":"hq"}`)
	admin(t, env, "PUT", "/v1/orgs/east", `{"name":"Sales East","parent":"sales"}`)
	admin(t, env, "POST", "/v1/orgs/east/members", `{"account_id":"`+bob+`"}`)
	admin(t, env, "POST", "/v1/accounts/"+bob+"/roles", `{"role":"seller","org":"sales"}`)
	admin(t, env, "PUT", "/v1/apps/crm", `{"name":"Demo mini program","kind":"host","host":{"secret":"`+hostSecret+`"},"match_rules":["phone"]}`)
	admin(t, env, "PUT", "/v1/webhooks/erp", `{"url":"http://127.0.0.1:1/hook","secret":"webhook-secret-0123456789","events":["role_granted"]}`)
	pos := admin(t, env, "POST", "/v1/accounts/"+ada+"/roles", `{"role":"console-admin"}`).Header.Get("X-Bindery-Position")
	env.Admin("GET", "/v1/accounts/"+ada+"?min_position="+pos, nil)
	// Bob and Ada log in through the host app's mini program (Bob's
	// session is the one the console revokes).
	bobIDToken := hostUser(t, env, "crm", "E7")["id_token"].(string)
	adaIDToken := hostUser(t, env, "crm", "A1")["id_token"].(string)
	out := browsertest.ArtifactDir(t, "console")

	root, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(root, browsertest.Options(exe, t.TempDir(), 1280, 800)...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	var mu sync.Mutex
	var errs []string
	go func() {
		for m, err := range chromedp.Console(tab) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, m.String())
				mu.Unlock()
			}
		}
	}()
	pageErrors := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), errs...) }
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(out, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			// The step's error is the finding: a screenshot of a page that
			// is gone must not replace it.
			if png, serr := chromedp.Run(tab, chromedp.FullScreenshot(100)); serr == nil {
				_ = os.WriteFile(filepath.Join(out, "failed.png"), png, 0o644)
			}
			t.Fatalf("%s: %v (page errors: %v)", what, err, pageErrors())
		}
	}
	eval := func(js string) bool {
		t.Helper()
		v, err := chromedp.Run(tab, chromedp.Evaluate[bool](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	// Sign in by QR: the console sends the browser to Bindery's hosted
	// login page; the phone's part (scan, confirm) goes through the API,
	// and the page follows the QR login by itself. Bob first: refused.
	scanQR := func(who, idToken string) {
		t.Helper()
		step("QR for "+who, chromedp.WaitVisible(chromedp.CSS(`#qr[data-qr-id]`)))
		if who == "Bob" {
			shot("qr-login-wide")
		}
		qr, err := chromedp.Run(tab, chromedp.AttributeValue(chromedp.CSS("#qr"), "data-qr-id"))
		if err != nil || qr.Value == "" {
			t.Fatalf("the login page's QR id: %q %v", qr.Value, err)
		}
		for _, s := range []string{"scan", "confirm"} {
			if r := env.Do("POST", "/v1/qr/"+qr.Value+"/"+s, nil, "Authorization", "Bearer "+idToken); r.Status != 200 {
				t.Fatalf("%s's QR %s: %d %s", who, s, r.Status, r.Body)
			}
		}
	}
	step("sign-in page", chromedp.Navigate(env.URL+"/console"), chromedp.WaitVisible(chromedp.CSS(`a.button`)))
	shot("signin-wide")
	step("to the QR page", chromedp.Click(chromedp.CSS(`a.button`)))
	scanQR("Bob", bobIDToken)
	step("refused", chromedp.WaitVisible(chromedp.CSS(`p.refusal`)))
	shot("refused-wide")
	mu.Lock()
	errs = nil // the refusal page is a 403, which Chromium logs as an error
	mu.Unlock()
	step("another account", chromedp.Click(chromedp.CSS(`a.button`)))
	scanQR("Ada", adaIDToken)
	step("signed in", chromedp.WaitVisible(chromedp.CSS(`#logins-minute`)))

	pages := []struct{ name, path, ready string }{
		{"overview", "/console", `#logins-minute`},
		{"apps", "/console/apps", `table`},
		{"accounts", "/console/accounts?q=lee", `#results`},
		{"account", "/console/accounts/" + bob, `#timeline`},
		{"clients", "/console/clients", `#clients`},
		{"roles", "/console/roles", `table`},
		{"orgs", "/console/orgs", `#org-form`},
		{"webhooks", "/console/webhooks", `section.webhook`},
		{"audit", "/console/audit", `form`},
	}
	for _, size := range []struct {
		name string
		w, h int64
	}{{"wide", 1280, 800}, {"narrow", 390, 844}} {
		step("resize", chromedp.EmulateViewport(size.w, size.h))
		for _, p := range pages {
			step(p.name+" "+size.name, chromedp.Navigate(env.URL+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
			if !eval(`getComputedStyle(document.body).fontFamily.includes("system-ui")`) {
				t.Errorf("%s (%s): the stylesheet did not apply", p.name, size.name)
			}
			if eval(`document.documentElement.scrollWidth > window.innerWidth + 1`) {
				t.Errorf("%s (%s): the page scrolls sideways", p.name, size.name)
			}
			shot(p.name + "-" + size.name)
		}
	}

	// Find Bob by phone through the form, open him, disable him (confirmed).
	step("search by phone",
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(env.URL+"/console/accounts"),
		chromedp.SendKeys(chromedp.CSS(`input[name=q]`), "+86 138 0013 8001"),
		chromedp.Submit(chromedp.CSS(`input[name=q]`)),
		// The unfiltered list has a #results table too: wait for the page
		// that answers the search (its form holds the query in the value
		// attribute; typing set only the property), or the click below
		// may land on a row of the page being left.
		chromedp.WaitVisible(chromedp.CSS(`input[name=q][value="+86 138 0013 8001"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#results`)),
		chromedp.Click(chromedp.CSS(`#results a`)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline`)),
		chromedp.Click(chromedp.CSS(`a.button.danger`)),
		chromedp.WaitVisible(chromedp.CSS(`form.confirm`)))
	shot("confirm-wide")
	step("disable", chromedp.Click(chromedp.CSS(`form.confirm button`)), chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	if notice, status := text(`p.notice`), text(`h1 .status`); !strings.Contains(notice, "disabled") || status != "disabled" {
		t.Fatalf("after disable: notice %q, status %q", notice, status)
	}
	// Grant a role and revoke Bob's session by clicking: both appear at the
	// top of his timeline with Ada's account as the actor.
	step("grant",
		chromedp.Navigate(env.URL+"/console/accounts/"+bob),
		chromedp.WaitVisible(chromedp.CSS(`#sessions`)),
		chromedp.SetValue(chromedp.CSS(`select[name=role]`), "console-admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name=org]`), "hq"),
		chromedp.Click(chromedp.CSS(`form.inline button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	if got, actor := text(`#timeline tbody tr:first-child td:nth-child(2)`), text(`#timeline tbody tr:first-child td.actor`); got != "role_granted" || actor != "account:"+ada {
		t.Fatalf("timeline after the grant: %q by %q", got, actor)
	}
	step("revoke session",
		chromedp.Click(chromedp.CSS(`#sessions a`)),
		chromedp.WaitVisible(chromedp.CSS(`form.confirm`)),
		chromedp.Click(chromedp.CSS(`form.confirm button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	shot("account-after-actions-wide")
	if got, actor := text(`#timeline tbody tr:first-child td:nth-child(2)`), text(`#timeline tbody tr:first-child td.actor`); got != "session_revoked" || actor != "account:"+ada {
		t.Fatalf("timeline after the session revoke: %q by %q", got, actor)
	}
	if eval(`document.getElementById("sessions") !== null`) {
		t.Fatal("the revoked session is still listed")
	}
	// Erase 王小明: the confirmation must be ticked (the form does not
	// send without it), then the page shows the tombstone.
	step("erase: confirm page",
		chromedp.Navigate(env.URL+"/console/accounts/"+xiaoming),
		chromedp.WaitVisible(chromedp.CSS(`#timeline`)),
		chromedp.Click(chromedp.CSS(`a.button.danger[href*="action=erase"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.confirm input[name=confirm]`)))
	shot("confirm-erase-wide")
	step("erase: unticked", chromedp.Click(chromedp.CSS(`form.confirm button`)))
	if !eval(`document.querySelector("form.confirm") !== null && !document.querySelector("form.confirm").checkValidity()`) {
		t.Fatal("the erase form went without its confirmation")
	}
	if r := env.Admin("GET", "/v1/accounts/"+xiaoming, nil); r.Map(t)["status"] != "active" {
		t.Fatalf("an unticked erase changed the account: %s", r.Body)
	}
	step("erase: ticked",
		chromedp.Click(chromedp.CSS(`form.confirm input[name=confirm]`)),
		chromedp.Click(chromedp.CSS(`form.confirm button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	shot("account-erased-wide")
	if notice, status := text(`p.notice`), text(`h1 .status`); !strings.Contains(notice, "erased") || status != "erased" {
		t.Fatalf("after the erase: notice %q, status %q", notice, status)
	}
	if eval(`document.querySelector('form[action$="/roles"]') !== null || document.querySelector('a[href*="action=erase"]') !== null`) {
		t.Fatal("the erased account's page still offers a role grant or another erase")
	}
	if r := env.Admin("GET", "/v1/accounts/"+xiaoming, nil); r.Map(t)["status"] != "erased" || r.Map(t)["display_name"] != nil {
		t.Fatalf("after the console's erase: %s", r.Body)
	}
	if e := pageErrors(); len(e) > 0 {
		t.Fatalf("the pages logged errors (a CSP violation logs one): %v", e)
	}
	t.Logf("screenshots in %s", out)
}
