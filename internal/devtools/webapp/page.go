package webapp

import "html/template"

// page is the web app's one page: a sign-in button, or who signed in.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Intranet · demo web app</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
header { background: #243b6b; color: #fff; padding: 14px 28px; display: flex; justify-content: space-between; align-items: center; }
header b { font-size: 18px; }
main { max-width: 760px; margin: 32px auto; background: #fff; border-radius: 10px; padding: 28px 32px; box-shadow: 0 1px 4px rgba(0,0,0,.08); }
a.button { display: inline-block; background: #07c160; color: #fff; padding: 12px 22px; border-radius: 8px; text-decoration: none; font-weight: 600; }
a.quiet { color: #fff; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 20px; font-size: 14px; }
td { border-top: 1px solid #e3e6eb; padding: 6px 8px; vertical-align: top; word-break: break-all; }
td:first-child { font-family: ui-monospace, monospace; white-space: nowrap; width: 30%; }
.problem { background: #fdecea; color: #8a1c12; padding: 10px 14px; border-radius: 6px; }
.muted { color: #667085; font-size: 14px; }
</style>
</head>
<body>
<header><b>Acme Intranet</b>{{if .Person}}<span>{{or .Person.Name .Person.Subject}} · <a class="quiet" id="logout" href="/logout">Log out</a></span>{{end}}</header>
<main>
{{if .Problem}}<p class="problem" id="problem">{{.Problem}}</p>{{end}}
{{if .Person}}
  <h1 id="signed-in" data-sub="{{.Person.Subject}}">Hello, {{or .Person.Name .Person.Subject}}</h1>
  <p>You signed in with the mini program through Bindery (OpenID Connect).</p>
  <h2>id_token claims</h2>
  <table id="claims">{{range .Person.Claims}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>{{end}}</table>
  {{if .Person.Userinfo}}<h2>userinfo</h2>
  <table id="userinfo">{{range .Person.Userinfo}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>{{end}}</table>{{end}}
  <p><a class="button" href="/logout">Log out</a></p>
  <p class="muted">Log out ends the Bindery browser session too (end_session), so the next sign-in asks for a scan again.</p>
{{else}}
  {{if .SignedOut}}<p id="signed-out">You signed out (of this app and of Bindery).</p>{{end}}
  <h1>Welcome to the Acme Intranet</h1>
  <p>This is an ordinary web app. It knows nothing about WeChat: it speaks OpenID Connect to Bindery,
  whose login page shows the mini program's QR code.</p>
  <p><a class="button" id="login" href="/login">Log in with the mini program</a></p>
  <p class="muted">OpenID Provider: {{.Issuer}} · client <code>demo-web</code> · go-oidc + x/oauth2, PKCE S256</p>
{{end}}
</main>
</body>
</html>
`))
