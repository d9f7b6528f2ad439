package devstack

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bindery/bindery/internal/devtools/browsertest"
)

// The demo web app of `make run`: an ordinary web app ("Log in with the
// mini program") that signs in through Bindery with go-oidc + x/oauth2.
// Bindery's home page links to it; the button leads to the hosted login
// page; once the phone confirms, the web app shows the person's claims;
// "Log out" goes through Bindery's end-session endpoint and back with the
// state it sent, and the next sign-in asks for a scan again.
func TestDemoWebAppInBrowser(t *testing.T) {
	t.Parallel()
	d := &driver{t: t, out: browsertest.ArtifactDir(t, "")}
	browser := d.newBrowser("demo web app")
	st, _ := startStack(t, "")
	if st.WebAppURL == "" {
		t.Fatal("the stack serves no demo web app")
	}
	resp, err := http.Get(st.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	home, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(home), `href="`+st.WebAppURL+`"`) {
		t.Fatalf("Bindery's home page does not link the demo web app %s", st.WebAppURL)
	}
	idToken, accountID := miniProgramUser(t, st, "Ada")

	d.step(browser, "open the demo web app", 20*time.Second, chromedp.Navigate(st.WebAppURL), chromedp.WaitVisible(chromedp.CSS("#login")))
	if got := d.text(browser, "#login"); got != "Log in with the mini program" {
		t.Fatalf("the button says %q", got)
	}
	shot(t, browser, d.out, "demo-web-app")
	signIn := func(shotName string) {
		t.Helper()
		d.step(browser, "log in with the mini program", 20*time.Second, chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("#qr")))
		qr := d.loginPageQR(browser, st, "")
		if shotName != "" {
			shot(t, browser, d.out, shotName)
		}
		api(t, "POST", st.URL+"/v1/qr/"+qr+"/scan", idToken, nil)
		api(t, "POST", st.URL+"/v1/qr/"+qr+"/confirm", idToken, nil)
		d.step(browser, "signed in to the web app", 30*time.Second, chromedp.WaitVisible(chromedp.CSS("#signed-in, #problem")))
	}
	signIn("demo-web-app-login-page")
	if p := d.text(browser, "body"); strings.Contains(p, "id_token:") || !strings.Contains(d.text(browser, "#signed-in"), "Ada") {
		t.Fatalf("the web app shows %q", p)
	}
	claims := d.text(browser, "#claims")
	for _, want := range []string{"sub" + "\t" + accountID, "amr", "sid", "auth_time", "name\tAda"} {
		if !strings.Contains(claims, want) {
			t.Errorf("the claims shown lack %q: %q", want, claims)
		}
	}
	if ui := d.text(browser, "#userinfo"); !strings.Contains(ui, accountID) {
		t.Errorf("userinfo shown: %q", ui)
	}
	shot(t, browser, d.out, "demo-web-app-signed-in")

	d.step(browser, "log out", 20*time.Second, chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#signed-out, #problem")))
	if got := d.text(browser, "main"); !strings.Contains(got, "You signed out") {
		t.Fatalf("after logout the web app says %q", got)
	}
	// Bindery's browser session ended too: the next sign-in shows the QR.
	signIn("")
	d.noPageErrors()
}
