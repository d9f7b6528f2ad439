// Package login holds the mini-program login use cases — a wx.login or host
// code, a phone code — and the binds and registrations that finish a
// pending one (bind by phone, by password, by one-time code; register).
//
// Each command is a struct with a handler type in its own file (code.go,
// phone.go, bind_phone.go, bind_password.go, otp_send.go, otp_verify.go,
// register.go, and signin_password.go, signin_otp_send.go,
// signin_otp_verify.go for the OIDC hosted login page's password and code
// sign-ins); what several of them share — the match rules' lookup, the
// attempts a login spends, the bind ticket, the verify-mode account source —
// is in the other files. The handlers decide through domain/login and
// domain/account and reach the world only through the ports in ports.go.
// Login bundles the handlers so that the HTTP layer holds one value:
// it has no behaviour of its own.
package login

import (
	"crypto/rand"
	"log/slog"
	"time"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/password"
)

// Deps are what the login handlers are built from.
type Deps struct {
	Store    events.Store
	Apps     Apps
	Accounts *accounts.Service // the account aggregates, ids, the password box
	View     AccountReader
	Engine   PositionWaiter // nil: the views are not waited for (tests)
	Sessions SessionIssuer
	WeChat   WeChat
	Sender   OTPSender // nil: one-time codes are otp_unavailable
	// Verifier calls the customer's account API of verify-mode apps (nil:
	// upstream_unavailable); Grants applies the roles and orgs it answers
	// (nil: they are not applied).
	Verifier Verifier
	Grants   Grants
	// OTPKey keys the HMAC that one-time codes are stored as (derived from
	// the master key, so that a reader of the events cannot try all
	// million codes).
	OTPKey []byte
	Now    usecase.Clock // default time.Now
	Log    *slog.Logger  // default: discard
}

// core is what every handler shares: the dependencies, checked once.
type core struct {
	Deps
	hints ownerHints // who held a candidate value when last looked (match.go)
}

// newCore checks what every handler needs, and what the handler named
// constructor needs beside it (name, value pairs).
func newCore(constructor string, d Deps, more ...any) *core {
	usecase.Require(constructor, append([]any{"store", d.Store, "apps", d.Apps, "accounts", d.Accounts,
		"view", d.View, "sessions", d.Sessions}, more...)...)
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &core{Deps: d}
}

// stamp dates a command's events by the handler's clock, which its
// decisions (expiry, windows) are made on too.
func (c *core) stamp(meta events.Meta) events.Meta {
	meta.Time = c.Now()
	return meta
}

// dummyHash is a password hash to verify against when there is none, so
// that timing does not tell which usernames exist.
func (c *core) dummyHash() string {
	hasher := password.Hash
	if c.Accounts.Hasher != nil {
		hasher = c.Accounts.Hasher
	}
	h, _ := hasher(rand.Text())
	return h
}

// Login is the login handlers, for the HTTP layer; they share one
// set of dependencies.
type Login struct {
	Code         *CodeHandler
	Phone        *PhoneHandler
	BindPhone    *BindPhoneHandler
	BindPassword *BindPasswordHandler
	SendOTP      *SendOTPHandler
	VerifyOTP    *VerifyOTPHandler
	Register     *RegisterHandler
	// The hosted login page's alternatives to the QR code (SPEC §7): a
	// password, a one-time code to a phone or e-mail address.
	SignInPassword *SignInPasswordHandler
	SignInSendOTP  *SignInSendOTPHandler
	SignInVerify   *SignInVerifyOTPHandler

	c *core
}

// New builds every login handler from d; it needs everything each of them
// needs.
func New(d Deps) *Login {
	c := newCore("login.New", d, "wechat", d.WeChat, "otp key", nonEmpty(d.OTPKey))
	return &Login{
		Code: &CodeHandler{c}, Phone: &PhoneHandler{c}, BindPhone: &BindPhoneHandler{c},
		BindPassword: newBindPasswordHandler(c), SendOTP: &SendOTPHandler{c}, VerifyOTP: &VerifyOTPHandler{c},
		Register:       &RegisterHandler{c},
		SignInPassword: newSignInPasswordHandler(newBindPasswordHandler(c)), SignInSendOTP: &SignInSendOTPHandler{c},
		SignInVerify: &SignInVerifyOTPHandler{c},
		c:            c,
	}
}

// SetClock makes now the clock of every handler (tests; call it before the
// first command).
func (l *Login) SetClock(now usecase.Clock) { l.c.Now = now }
