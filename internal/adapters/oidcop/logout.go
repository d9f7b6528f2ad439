package oidcop

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/bindery/bindery/events"
)

// LogoutTokenLifetime is how long a back-channel logout token is accepted
// (OpenID Back-Channel Logout 1.0 §2.4 suggests at most two minutes).
const LogoutTokenLifetime = 2 * time.Minute

// BackChannelLogoutEvent is the one member of a logout token's events claim.
const BackChannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// EndSession is a checked RP-initiated logout request.
type EndSession struct {
	// RedirectURI is where the browser goes next: the client's registered
	// post_logout_redirect_uri (exact match) with its state, or Bindery's
	// home page.
	RedirectURI string
	ClientID    string
	// Subject and SessionID come from a verified id_token_hint ("" without).
	Subject, SessionID string
}

// ErrLogoutURIUnverifiable: a post_logout_redirect_uri came without an
// id_token_hint or client_id to check it against.
var ErrLogoutURIUnverifiable = oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri needs an id_token_hint or client_id to check it against")

// EndSession checks an end-session request (OpenID RP-Initiated Logout
// 1.0) with the library: the id_token_hint's signature (an expired hint is
// accepted), the client, and post_logout_redirect_uri against the client's
// registered ones. It ends nothing: the caller ends the browser session.
func (p *Provider) EndSession(r *http.Request) (EndSession, error) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	req, err := op.ParseEndSessionRequest(r, p.op.Decoder())
	if err != nil {
		return EndSession{}, err
	}
	if req.PostLogoutRedirectURI != "" && req.IdTokenHint == "" && req.ClientID == "" {
		return EndSession{}, ErrLogoutURIUnverifiable
	}
	if req.ClientID != "" {
		if _, err := p.storage.client(ctx, req.ClientID); err != nil {
			return EndSession{}, oidc.ErrInvalidRequest().WithDescription("unknown client_id")
		}
	}
	v, err := op.ValidateEndSessionRequest(ctx, req, p.op)
	if err != nil {
		return EndSession{}, err
	}
	out := EndSession{RedirectURI: v.RedirectURI, ClientID: v.ClientID, Subject: v.UserID}
	if v.IDTokenHintClaims != nil {
		out.SessionID = v.IDTokenHintClaims.SessionID
	}
	return out, nil
}

// LogoutToken is one back-channel logout to deliver: a signed token for a
// client's backchannel_logout_uri.
type LogoutToken struct {
	ClientID, URI, Token string
}

// LogoutTokens makes the back-channel logout tokens of an ended browser
// session: one for each of its clients that registered a
// backchannel_logout_uri (OpenID Back-Channel Logout 1.0 §2.4: iss, aud,
// iat, exp, jti, sub, sid, events; never a nonce).
func (p *Provider) LogoutTokens(_ context.Context, ended events.BrowserSessionEnded) ([]LogoutToken, error) {
	now := p.storage.auth.Now()
	var out []LogoutToken
	var errs []error
	for _, id := range ended.ClientIDs {
		c, ok := p.storage.clients.Get(id)
		if !ok || c.BackchannelLogoutURI == "" {
			continue
		}
		tok, err := p.storage.signer.Sign(map[string]any{
			"iss": p.issuer, "aud": id, "iat": now, "exp": now.Add(LogoutTokenLifetime),
			"jti": uuid.NewString(), "sub": ended.AccountID, "sid": ended.SessionID,
			"events": map[string]any{BackChannelLogoutEvent: map[string]any{}},
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, LogoutToken{ClientID: id, URI: c.BackchannelLogoutURI, Token: tok})
	}
	return out, errors.Join(errs...)
}
