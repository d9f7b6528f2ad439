package authorization

import (
	"strings"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// The access tokens of a request are JWTs whose jti is "<authorization
// id>.<random>": the code's and every refresh's. Their signature proves
// Bindery issued them; the request says whether they still count.

// Errors of a request's tokens.
var (
	// ErrTokenInactive: the access token is unknown here, revoked, or its
	// request's code was used twice. Introspection answers active:false.
	ErrTokenInactive = domain.New(domain.KindUnauthorized, "invalid_token", "the access token is not active")
	// ErrOtherClient: the token was issued to another client.
	ErrOtherClient = domain.New(domain.KindForbidden, "invalid_client", "the token was not issued to this client")
)

// FamilyID is the family of refresh tokens the code's exchange started
// ("" without offline_access).
func (a *Authorization) FamilyID() string { return a.familyID }

// CodeReused reports whether a code of this request presented now is a
// second use: the one exchange happened already.
func (a *Authorization) CodeReused() bool { return a.state == Exchanged }

// GrantRevoked reports whether every token of the request was revoked
// (its code was used a second time).
func (a *Authorization) GrantRevoked() bool { return a.grantRevoked }

func (a *Authorization) applyRevoked(e events.TokenRevoked, at time.Time) {
	if e.Reason == events.RevokeCodeReused {
		a.grantRevoked = true
	}
	if e.TokenType != events.TokenTypeAccess || e.TokenID == "" {
		return
	}
	if a.revoked == nil {
		a.revoked = map[string]time.Time{}
	}
	a.revoked[e.TokenID] = e.ExpiresAt
	for jti, exp := range a.revoked {
		// A revoked token past its expiry is refused by its exp anyway.
		if !exp.IsZero() && !at.IsZero() && at.After(exp) {
			delete(a.revoked, jti)
		}
	}
}

// ownsToken reports whether jti names an access token of this request.
func (a *Authorization) ownsToken(jti string) bool {
	id, rest, ok := strings.Cut(jti, ".")
	return ok && id == a.id && rest != ""
}

// AccessTokenActive says whether the access token jti of this request
// still counts: the code was exchanged, the token is the request's, it was
// not revoked and the code was not reused. (Its exp, its signature and its
// refresh family are checked by the caller.)
func (a *Authorization) AccessTokenActive(jti string) error {
	if a.state != Exchanged || !a.ownsToken(jti) || a.grantRevoked {
		return ErrTokenInactive
	}
	if _, revoked := a.revoked[jti]; revoked {
		return ErrTokenInactive
	}
	return nil
}

// VisibleTo reports whether a client may introspect the request's tokens:
// the client they were issued to, or another client of the same
// mini-program app (a resource server of that app).
func (a *Authorization) VisibleTo(clientID, clientApp string) bool {
	return clientID == a.req.ClientID || (clientApp != "" && clientApp == a.req.App)
}

// RevokeAccessToken decides a revocation request (RFC 7009) by clientID
// for the access token jti, which expires at expiresAt. An unknown or
// already revoked token is nothing to do; another client's is
// ErrOtherClient.
func (a *Authorization) RevokeAccessToken(clientID, jti string, expiresAt time.Time) ([]events.Event, error) {
	if a.state != Exchanged || !a.ownsToken(jti) {
		return nil, nil
	}
	if clientID != a.req.ClientID {
		return nil, ErrOtherClient
	}
	if _, done := a.revoked[jti]; done || a.grantRevoked {
		return nil, nil
	}
	return []events.Event{events.TokenRevoked{
		AuthorizationID: a.id, ClientID: clientID, AccountID: a.granted.AccountID,
		TokenType: events.TokenTypeAccess, TokenID: jti, ExpiresAt: expiresAt.UTC(), Reason: events.RevokeByClient,
	}}, nil
}

// RevokeForReusedCode decides what a second use of the code causes (RFC
// 6749 §4.1.2): every token the exchange issued is revoked — the access
// tokens here, the refresh family by the session_revoked the caller
// stores on it. Nothing when it was done already.
func (a *Authorization) RevokeForReusedCode() []events.Event {
	if a.state != Exchanged || a.grantRevoked {
		return nil
	}
	return []events.Event{events.TokenRevoked{
		AuthorizationID: a.id, ClientID: a.req.ClientID, AccountID: a.granted.AccountID,
		TokenType: events.TokenTypeAccess, TokenID: a.tokenID, SessionID: a.familyID, Reason: events.RevokeCodeReused,
	}}
}
