package oidc

import (
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/domain/oidcclient"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/qr"
	"github.com/bindery/bindery/projections"
)

// AMRQR is the amr of a sign-in confirmed by scanning a QR code.
const AMRQR = "qr"

// SignIn runs the hosted login page of an authorization request: it shows
// a QR login bound to the request and, once the mini-program user
// confirmed it, grants the request (or denies it on cancel).
type SignIn struct {
	Auth    *Authorizations
	QR      *qr.Service
	Clients *projections.OIDCClients
	// Browser keeps the browser sessions of single sign-on; Accounts
	// says whether their account is still enabled.
	Browser  *BrowserSessions
	Accounts interface {
		Get(id string) (projections.Account, bool)
	}
	// Credentials checks the page's alternatives to the QR code, a
	// password or a one-time code (nil: the page offers none).
	Credentials Credentials
}

// Page is what the hosted login page shows: the QR code, and the
// alternatives to it.
type Page struct {
	AuthorizationID string
	ClientName      string
	AppName         string
	QR              qr.Started
	Alternatives
}

// Outcome is how a sign-in ended: Granted, or Denied with an OAuth error.
// Cookie is the value of a browser session cookie to set ("" for none).
type Outcome struct {
	Granted bool
	Error   string // access_denied, login_required
	Cookie  string
}

// Begin opens the login page of request id for the browser at ip: a fresh
// QR login bound to it. A request with prompt=none cannot show a page: it
// is denied with login_required.
func (s *SignIn) Begin(ctx context.Context, meta events.Meta, id, ip, userAgent, cookie string) (Page, *Outcome, error) {
	a, err := s.Auth.Get(ctx, id)
	if err != nil {
		return Page{}, nil, err
	}
	if err := a.Open(s.Auth.Now()); err != nil {
		return Page{}, nil, err
	}
	req := a.Requested()
	if out, ok := s.reuse(ctx, meta, a, cookie); ok {
		return Page{}, out, nil
	}
	if slices.Contains(req.Prompt, "none") {
		if _, err := s.Auth.Deny(ctx, meta, id, "login_required", ""); err != nil {
			return Page{}, nil, err
		}
		return Page{}, &Outcome{Error: "login_required"}, nil
	}
	c, ok := s.Clients.Get(req.ClientID)
	if !ok {
		return Page{}, nil, oidcclient.ErrNotFound
	}
	started, _, err := s.QR.StartFor(ctx, meta, req.App, ip, userAgent, id, req.ClientID)
	if err != nil {
		return Page{}, nil, err
	}
	return Page{AuthorizationID: id, ClientName: c.Name, AppName: req.App, QR: started, Alternatives: s.alternatives(a)}, nil, nil
}

// reuse grants the request from the browser's session (single sign-on)
// when there is one the request accepts (prompt, max_age, id_token_hint)
// and its account is still enabled.
func (s *SignIn) reuse(ctx context.Context, meta events.Meta, a *authorization.Authorization, cookie string) (*Outcome, bool) {
	if cookie == "" || s.Browser == nil {
		return nil, false
	}
	bs, err := s.Browser.Find(ctx, cookie)
	if err != nil || !a.Reuses(bs.AccountID(), bs.AuthTime(), s.Auth.Now()) {
		return nil, false
	}
	if acc, ok := s.Accounts.Get(bs.AccountID()); !ok || account.Blocked(acc.Status) != nil {
		return nil, false
	}
	// The session signs this client in too: its logout must tell it.
	// Recorded first, so no client is signed in that logout forgets.
	if err := s.Browser.Join(ctx, meta, bs.ID(), a.Requested().ClientID); err != nil {
		return nil, false
	}
	if _, err := s.Auth.Approve(ctx, meta, a.ID(), Grant{
		AccountID: bs.AccountID(), SessionID: bs.ID(), AMR: bs.AMR(), AuthTime: bs.AuthTime(),
	}); err != nil {
		return nil, false
	}
	return &Outcome{Granted: true}, true
}

// Complete ends the sign-in of request id through QR login qrID, for the
// browser holding its poll token: a confirmed QR grants the request, a
// cancelled one denies it with access_denied.
func (s *SignIn) Complete(ctx context.Context, meta events.Meta, id, qrID, pollToken string) (Outcome, error) {
	a, err := s.Auth.Get(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	sid := uuid.NewString()
	in, _, err := s.QR.ConsumeFor(ctx, meta, qrID, pollToken, id, sid)
	switch {
	case errors.Is(err, qrlogin.ErrCancelled):
		if _, err := s.Auth.Deny(ctx, meta, id, "access_denied", ""); err != nil && !errors.Is(err, authorization.ErrFinished) {
			return Outcome{}, err
		}
		return Outcome{Error: "access_denied"}, nil
	case err != nil:
		return Outcome{}, err
	}
	return s.grant(ctx, meta, a, in.AccountID, []string{AMRQR}, sid, qrID)
}

// grant ends a sign-in on the page of request a: accountID signed in just
// now, by amr (through the QR login qrID, or "" for none). The browser is
// signed in from now on (later web apps need no sign-in: the cookie of
// its new session, whose id replaces sid), and the request is granted.
func (s *SignIn) grant(ctx context.Context, meta events.Meta, a *authorization.Authorization, accountID string, amr []string, sid, qrID string) (Outcome, error) {
	now := s.Auth.Now()
	var cookie string
	if s.Browser != nil {
		var err error
		if cookie, sid, err = s.Browser.Start(ctx, meta, accountID, a.Requested().ClientID, amr, now); err != nil {
			return Outcome{}, err
		}
	}
	if _, err := s.Auth.Approve(ctx, meta, a.ID(), Grant{
		AccountID: accountID, SessionID: sid, AMR: amr, AuthTime: now, QRID: qrID,
	}); err != nil {
		return Outcome{}, err
	}
	return Outcome{Granted: true, Cookie: cookie}, nil
}
