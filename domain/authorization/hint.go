package authorization

// SubjectHint decides whom a request asks to sign in: the id_token_hint's
// subject, or else a login_hint that is an account id (isAccount) — a web
// app that knows whom it expects, re-authenticating its user, says so
// either way. Any other login_hint (a username, a phone number, an e-mail
// address) names no subject: it is recorded and shown, never trusted. ""
// for none. A browser session of anyone else then does not answer the
// request (Reuses): the login page asks for a sign-in.
func SubjectHint(idTokenSubject, loginHint string, isAccount func(string) bool) string {
	if idTokenSubject != "" {
		return idTokenSubject
	}
	if loginHint != "" && len(loginHint) <= 128 && isAccount != nil && isAccount(loginHint) {
		return loginHint
	}
	return ""
}

// IdentifierHint is what the hosted login page prefills its username,
// phone or e-mail field with: the login_hint, unless it named the subject
// (an account id is nobody's to type) or is too long to be an identifier;
// "" for none.
func (a *Authorization) IdentifierHint() string {
	h := a.req.LoginHint
	if h == "" || h == a.req.HintSubject || len(h) > 256 {
		return ""
	}
	return h
}
