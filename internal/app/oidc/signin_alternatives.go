package oidc

import (
	"context"
	"slices"

	"github.com/bindery/bindery/domain/authorization"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
)

// Authentication method references (RFC 8176) of the page's alternatives
// to the QR code; a code's are the login use case's (otp, and sms for a
// text message).
const AMRPassword = "pwd"

// Credentials checks what a person types on the hosted login page instead
// of scanning (internal/app/login's sign-in handlers): each answers the
// account proven, or a problem that does not tell whether the account
// exists.
type Credentials interface {
	// Password checks an identifier (username, e-mail address or phone
	// number) and password for a sign-in to app.
	Password(ctx context.Context, meta events.Meta, authorizationID, app, identifier, password string) (string, error)
	// SendCode sends a one-time code to the address when an account holds
	// it, and answers how long codes live either way.
	SendCode(ctx context.Context, meta events.Meta, authorizationID, app, channel, to string) (int, error)
	// VerifyCode checks a code sent to the address: the account and the
	// amr of the sign-in.
	VerifyCode(ctx context.Context, meta events.Meta, authorizationID, to, code string) (string, []string, error)
	// Channels are the channels codes can go out on (sms, email).
	Channels() []string
}

// Alternatives are the page's ways to sign in besides the QR code.
type Alternatives struct {
	Password bool     // username (or e-mail, phone) and password
	Channels []string // one-time codes by sms and/or email; none: not offered
	// Hint prefills the identifier fields (login_hint); HintChannel is
	// the code channel it is an address of ("" for none).
	Hint, HintChannel string
}

// alternatives are what the page of request a offers.
func (s *SignIn) alternatives(a *authorization.Authorization) Alternatives {
	if s.Credentials == nil {
		return Alternatives{}
	}
	alt := Alternatives{Password: true, Channels: s.Credentials.Channels(), Hint: a.IdentifierHint()}
	if to, err := dlogin.ParseContact("", alt.Hint); alt.Hint != "" && err == nil && slices.Contains(alt.Channels, to.Channel) {
		alt.HintChannel = to.Channel
	}
	return alt
}

// openForSignIn loads request id for a sign-in on its page: it must still
// wait for one, and the page must offer alternatives.
func (s *SignIn) openForSignIn(ctx context.Context, id string) (*authorization.Authorization, error) {
	if s.Credentials == nil {
		return nil, authorization.ErrNotFound
	}
	a, err := s.Auth.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return a, a.Open(s.Auth.Now())
}
