package session

import (
	"slices"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// A web app's refresh tokens (OpenID Provider, offline_access) are a
// session family too: the same rotation, the same reuse detection, with
// the client, the authorization and the scopes on the family. A family
// answers only its own kind: a web app's token is invalid_session at the
// mini-program session API, a mini-program token invalid at the token
// endpoint of a web app.

// ErrOtherClient: the refresh token belongs to another client. The
// revocation endpoint refuses it (RFC 7009 §2.1); the token is untouched.
var ErrOtherClient = domain.New(domain.KindForbidden, "invalid_client", "the token was not issued to this client")

// WebAppFamily reports whether the family holds a web app's refresh
// tokens.
func (s *Session) WebAppFamily() bool { return s.webApp.ClientID != "" }

// IssueWebApp decides the start of a web app's refresh-token family, when
// the code of authorization w.AuthorizationID is exchanged by client
// w.ClientID: accountID signed in (amr, authTime) to the mini-program app;
// tokenHash is the first refresh token's hash, living ttl from now.
func (s *Session) IssueWebApp(accountID, app string, w events.WebApp, amr []string, authTime time.Time, tokenHash string, now time.Time, ttl time.Duration) ([]events.Event, error) {
	if s.exists {
		return nil, ErrExists
	}
	if accountID == "" || app == "" || tokenHash == "" || w.ClientID == "" || w.AuthorizationID == "" {
		return nil, domain.Invalid("a web app's session needs an account, an app, a client, an authorization and a token")
	}
	w.Scopes = slices.Clone(w.Scopes)
	return []events.Event{events.SessionIssued{
		SessionID: s.id, AccountID: accountID, App: app, TokenHash: tokenHash,
		AMR: slices.Clone(amr), AuthTime: authTime.UTC(), ExpiresAt: now.Add(ttl).UTC(), WebApp: w,
	}}, nil
}

// AuthenticateClient is Authenticate for the token endpoint: the family
// must be clientID's (else ErrInvalid, and nothing is recorded: a token
// shown to the wrong client proves no theft from this one).
func (s *Session) AuthenticateClient(clientID, hash string, now time.Time) error {
	if !s.exists || clientID == "" || s.webApp.ClientID != clientID {
		return ErrInvalid
	}
	return s.Authenticate(hash, now)
}

// RevokeByClient decides a revocation request (RFC 7009) by clientID for
// a presented refresh token: a token of this family, current or rotated,
// ends the family (token_revoked, then session_revoked); a family already
// revoked answers nothing more. Another client's family is ErrOtherClient;
// a token the family does not know is ErrInvalid (the endpoint answers
// success for it all the same, as RFC 7009 §2.2 says).
func (s *Session) RevokeByClient(clientID, hash string) ([]events.Event, error) {
	if !s.exists || !s.WebAppFamily() {
		return nil, ErrInvalid
	}
	if current, rotated := s.match(hash); !current && !rotated {
		return nil, ErrInvalid
	}
	if s.webApp.ClientID != clientID {
		return nil, ErrOtherClient
	}
	if s.revoked {
		return nil, nil
	}
	return []events.Event{
		events.TokenRevoked{
			AuthorizationID: s.webApp.AuthorizationID, ClientID: clientID, AccountID: s.accountID,
			TokenType: events.TokenTypeRefresh, SessionID: s.id, TokenHash: hash, Reason: events.RevokeByClient,
		},
		events.SessionRevoked{SessionID: s.id, AccountID: s.accountID, Reason: events.RevokeByClient},
	}, nil
}
