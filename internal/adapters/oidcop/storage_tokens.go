package oidcop

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/domain/session"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
)

// The token side of the storage: code exchange, refresh (rotation with
// reuse detection, on session families), revocation, introspection and
// userinfo for access tokens. It translates; the use cases decide.

// refreshMarker prefixes, between GetRefreshTokenInfo (or Decrypt) and
// RevokeToken or SetIntrospectionFromToken of one request, a token to be
// taken as a refresh token; refreshSubject stands for its subject, unknown
// until its family is read. Neither holds a ":" (the library splits
// "<token id>:<subject>" on it), nor does a refresh token.
const (
	refreshMarker  = "refresh~"
	refreshSubject = "~"
)

// accessToken prepares the claims of a new access token jti for req and
// answers its expiry.
func (s *storage) accessToken(req op.TokenRequest, jti, clientID string, authTime time.Time) time.Time {
	now := s.auth.Now()
	exp := now.Add(AccessTokenLifetime)
	s.crypto.prepare(accessClaims{
		Issuer: s.issuer, Subject: req.GetSubject(), Audience: req.GetAudience(), ClientID: clientID,
		Scope: strings.Join(req.GetScopes(), " "), JTI: jti, IssuedAt: now, Expiry: exp, AuthTime: authTime,
	})
	return exp
}

// CreateAccessToken records the code's one exchange (no refresh token:
// offline_access was not asked or not allowed).
func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	id, _, exp, err := s.exchange(ctx, req, false)
	return id, exp, err
}

// CreateAccessAndRefreshTokens records a code's exchange that starts a
// family of refresh tokens, or rotates a refresh token.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	if rr, ok := req.(*refreshRequest); ok {
		out, err := s.auth.Refresh(ctx, meta(ctx, rr.GetClientID()), current, rr.GetClientID())
		if err != nil {
			return "", "", time.Time{}, asOIDC(err)
		}
		return out.TokenID, out.RefreshToken, s.accessToken(req, out.TokenID, rr.GetClientID(), rr.GetAuthTime()), nil
	}
	return s.exchange(ctx, req, true)
}

func (s *storage) exchange(ctx context.Context, req op.TokenRequest, withRefresh bool) (string, string, time.Time, error) {
	if d, ok := req.(*op.DeviceAuthorizationState); ok {
		return s.exchangeDevice(ctx, d, withRefresh)
	}
	ar, ok := req.(authRequest)
	if !ok {
		return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	out, err := s.auth.Exchange(ctx, meta(ctx, ar.GetClientID()), ar.GetID(), ar.GetClientID(), withRefresh)
	if err != nil {
		return "", "", time.Time{}, asOIDC(err)
	}
	return out.TokenID, out.RefreshToken, s.accessToken(req, out.TokenID, ar.GetClientID(), ar.GetAuthTime()), nil
}

// TokenRequestByRefreshToken finds the grant of a refresh token (a rotated
// one revokes its family); the rotation itself happens in
// CreateAccessAndRefreshTokens, once the library checked the client.
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	g, err := s.auth.RefreshGrantOf(ctx, meta(ctx, ""), token)
	if err != nil {
		return nil, asOIDC(err)
	}
	return &refreshRequest{g: g, scopes: slices.Clone(g.Family.Scopes)}, nil
}

// GetRefreshTokenInfo marks what may be a refresh token for RevokeToken;
// a JWT is tried as an access token.
func (s *storage) GetRefreshTokenInfo(_ context.Context, _, token string) (string, string, error) {
	if strings.Count(token, ".") != 1 {
		return "", "", op.ErrInvalidRefreshToken
	}
	return "", refreshMarker + token, nil
}

// RevokeToken revokes a refresh token's family or one access token (RFC
// 7009) for clientID. A token Bindery does not know is revoked already as
// far as anyone can tell: success.
func (s *storage) RevokeToken(ctx context.Context, token, subject, clientID string) *oidc.Error {
	m := meta(ctx, clientID)
	var err error
	switch {
	case strings.HasPrefix(token, refreshMarker):
		// Marked by GetRefreshTokenInfo, or by Decrypt (hinted as an
		// access token, but shaped as a refresh token).
		_, err = s.auth.RevokeRefreshToken(ctx, m, strings.TrimPrefix(token, refreshMarker), clientID)
	case subject != "":
		// token is the jti of an access token the library verified.
		err = s.auth.RevokeAccessToken(ctx, m, token, clientID, s.auth.Now().Add(AccessTokenLifetime))
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, session.ErrOtherClient), errors.Is(err, authorization.ErrOtherClient):
		return oidc.ErrUnauthorizedClient().WithDescription("the token was not issued to this client")
	}
	return oidc.ErrServerError().WithParent(err)
}

// SetUserinfoFromToken answers userinfo for an access token that still
// counts (appoidc.ActiveToken), with the scopes it carries.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	if strings.HasPrefix(tokenID, refreshMarker) {
		return oidc.ErrInvalidRequest().WithDescription("a refresh token is no access token")
	}
	a, err := s.auth.ActiveToken(ctx, tokenID, subject)
	if err != nil {
		return oidc.ErrInvalidRequest().WithDescription("the access token is not active")
	}
	scopes := a.Requested().Scopes
	if c, ok := rawClaims(ctx); ok {
		scopes = strings.Fields(c.Scope)
	}
	return s.fill(info, subject, scopes)
}

// SetIntrospectionFromToken answers introspection (RFC 7662) for an access
// token that still counts, to the client it was issued to or another
// client of the same mini-program app, and for a refresh token that still
// counts, to the client it was issued to; anything else is active:false.
func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	if rt, ok := strings.CutPrefix(tokenID, refreshMarker); ok {
		return s.introspectRefresh(ctx, resp, rt, clientID)
	}
	a, err := s.auth.ActiveToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	c, _ := s.clients.Get(clientID)
	if !a.VisibleTo(clientID, c.App) {
		return inactive
	}
	req := a.Requested()
	resp.Subject, resp.ClientID, resp.JWTID = subject, req.ClientID, tokenID
	resp.TokenType, resp.Issuer = oidc.BearerToken, s.issuer
	resp.Scope = oidc.SpaceDelimitedArray(req.Scopes)
	resp.Audience = oidc.Audience{req.ClientID}
	if tc, ok := rawClaims(ctx); ok {
		resp.Scope = strings.Fields(tc.Scope)
		resp.Expiration, resp.IssuedAt = oidc.FromTime(time.Unix(tc.Exp, 0)), oidc.FromTime(time.Unix(tc.Iat, 0))
		if tc.AuthTime > 0 {
			resp.AuthTime = oidc.FromTime(time.Unix(tc.AuthTime, 0))
		}
	}
	if acc, ok := s.accounts.Get(subject); ok {
		resp.Username = acc.Username
	}
	return nil
}

// introspectRefresh answers introspection for a web app's refresh token:
// its client, account, scopes and expiry while it is its family's current
// token, only to the client it was issued to (a refresh token is that
// client's credential, never a resource server's).
func (s *storage) introspectRefresh(ctx context.Context, resp *oidc.IntrospectionResponse, token, clientID string) error {
	fam, exp, err := s.auth.RefreshTokenActive(ctx, token)
	if err != nil {
		return err
	}
	if fam.ClientID != clientID {
		return inactive
	}
	resp.Subject, resp.ClientID, resp.Issuer = fam.AccountID, fam.ClientID, s.issuer
	resp.Scope = oidc.SpaceDelimitedArray(fam.Scopes)
	resp.Audience = oidc.Audience{fam.ClientID}
	resp.Expiration = oidc.FromTime(exp)
	if !fam.AuthTime.IsZero() {
		resp.AuthTime = oidc.FromTime(fam.AuthTime)
	}
	if acc, ok := s.accounts.Get(fam.AccountID); ok {
		resp.Username = acc.Username
	}
	return nil
}

// refreshRequest is a refresh token's grant as the library sees it.
type refreshRequest struct {
	g      appoidc.RefreshGrant
	scopes []string
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string             { return r.g.Family.AMR }
func (r *refreshRequest) GetAudience() []string        { return []string{r.g.Family.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time       { return r.g.Family.AuthTime }
func (r *refreshRequest) GetClientID() string          { return r.g.Family.ClientID }
func (r *refreshRequest) GetScopes() []string          { return r.scopes }
func (r *refreshRequest) GetSubject() string           { return r.g.Family.AccountID }
func (r *refreshRequest) SetCurrentScopes(sc []string) { r.scopes = sc }
