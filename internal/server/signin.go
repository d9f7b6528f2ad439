package server

import (
	"context"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/login"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
)

// signInCredentials are the login use cases behind the hosted login page's
// alternatives to the QR code.
type signInCredentials struct{ l *login.Login }

var _ appoidc.Credentials = signInCredentials{}

func (s signInCredentials) Password(ctx context.Context, meta events.Meta, authorizationID, app, identifier, password string) (string, error) {
	acc, _, err := s.l.SignInPassword.Handle(ctx, meta, login.SignInPassword{Authorization: authorizationID, App: app, Identifier: identifier, Password: password})
	return acc, err
}

func (s signInCredentials) SendCode(ctx context.Context, meta events.Meta, authorizationID, app, channel, to string) (int, error) {
	ttl, _, err := s.l.SignInSendOTP.Handle(ctx, meta, login.SignInSendOTP{Authorization: authorizationID, App: app, Channel: channel, To: to})
	return ttl, err
}

func (s signInCredentials) VerifyCode(ctx context.Context, meta events.Meta, authorizationID, to, code string) (string, []string, error) {
	in, _, err := s.l.SignInVerify.Handle(ctx, meta, login.SignInVerifyOTP{Authorization: authorizationID, To: to, OTP: code})
	return in.AccountID, in.AMR, err
}

func (s signInCredentials) Channels() []string { return s.l.SignInSendOTP.Channels() }
