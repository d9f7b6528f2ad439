package oidcop

import (
	"context"
	"errors"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/domain/oidcclient"
	"github.com/bindery/bindery/events"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/projections"
)

// AccessTokenLifetime is how long a web app's access token lives.
const AccessTokenLifetime = 15 * time.Minute

// storage is the library's op.Storage on Bindery's use cases and views. It
// translates; the use cases and the domain decide.
type storage struct {
	clients    *projections.OIDCClients
	clientCmds *appoidc.Clients
	auth       *appoidc.Authorizations
	accounts   *projections.Accounts
	signer     *tokens.Signer
	crypto     tokenCrypto
	issuer     string
	loginURL   func(id string) string
	devices    *appoidc.Devices // nil: no device flow (device.go)
}

var _ op.Storage = (*storage)(nil)

func meta(ctx context.Context, actor string) events.Meta {
	return events.Meta{Actor: actor, RequestID: requestID(ctx)}
}

// asOIDC turns a domain refusal into the OAuth error the library answers.
func asOIDC(err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		switch de.Code {
		case "invalid_grant", "authorization_not_found", "authorization_expired", "authorization_finished",
			"invalid_session", "session_reused", "account_disabled", "not_found", "invalid_token":
			return oidc.ErrInvalidGrant().WithDescription("%s", de.Message)
		case "invalid_request":
			return oidc.ErrInvalidRequest().WithDescription("%s", de.Message)
		}
	}
	return err
}

func (s *storage) client(ctx context.Context, id string) (projections.OIDCClient, error) {
	if c, ok := s.clients.Get(id); ok {
		return c, nil
	}
	return projections.OIDCClient{}, oidcclient.ErrNotFound
}

// CreateAuthRequest records the request (the domain refuses a public
// client without PKCE S256); scopes are cut to what the client may ask.
func (s *storage) CreateAuthRequest(ctx context.Context, r *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	c, err := s.client(ctx, r.ClientID)
	if err != nil {
		return nil, err
	}
	scopes := slices.DeleteFunc(slices.Clone([]string(r.Scopes)), func(sc string) bool { return !slices.Contains(c.Scopes, sc) })
	var maxAge *int64
	if r.MaxAge != nil {
		v := int64(*r.MaxAge)
		maxAge = &v
	}
	a, err := s.auth.Request(ctx, meta(ctx, ""), authorization.Request{
		ClientID: c.ClientID, App: c.App, RedirectURI: r.RedirectURI, PublicClient: c.Type == oidcclient.Public,
		Scopes: scopes, Nonce: r.Nonce, CodeChallenge: r.CodeChallenge, Method: string(r.CodeChallengeMethod),
		ResponseMode: string(r.ResponseMode), Prompt: r.Prompt, MaxAge: maxAge, LoginHint: r.LoginHint,
		HintSubject: authorization.SubjectHint(userID, r.LoginHint, func(id string) bool { _, ok := s.accounts.Get(id); return ok }),
	}, r.State)
	if err != nil {
		return nil, asOIDC(err)
	}
	return authRequest{a: a, state: r.State}, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	a, err := s.auth.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return authRequest{a: a, state: s.auth.State(a)}, nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	a, err := s.auth.ByCode(ctx, meta(ctx, ""), code)
	if err != nil {
		return nil, asOIDC(err)
	}
	return authRequest{a: a, state: s.auth.State(a)}, nil
}

// SaveAuthCode stores nothing: the code is derived from the request id
// (see codeCrypto) and checked by its MAC.
func (s *storage) SaveAuthCode(context.Context, string, string) error { return nil }

// DeleteAuthRequest records nothing more: the exchange (code_exchanged) was
// recorded when the access token was made, and ends the request.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	id, alg, key := s.signer.SigningKey()
	return signingKey{id: id, alg: alg, key: key}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.SignatureAlgorithm(s.signer.Algorithm())}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	set := s.signer.JWKS()
	out := make([]op.Key, 0, len(set.Keys))
	for _, k := range set.Keys {
		out = append(out, publicKey{k})
	}
	return out, nil
}

// GetClientByClientID answers an unknown client_id as invalid_client: the
// library passes this error through as it is on some endpoints (the
// device authorization), where anything else reads as a server error.
func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("no OIDC client with this client_id").WithParent(err)
	}
	return client{c: c, loginURL: s.loginURL}, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.client(ctx, id)
	if err != nil {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed").WithParent(err)
	}
	if c.Type != oidcclient.Confidential || !s.clientCmds.CheckSecret(id, c.SecretSealed, secret) {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills an id_token's claims: the scope's claims
// and the sid of the sign-in.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.fill(info, req.GetSubject(), scopes); err != nil {
		return err
	}
	switch r := req.(type) {
	case authRequest:
		info.AppendClaims("sid", r.SessionID())
	case *refreshRequest:
		info.AppendClaims("sid", r.g.Authorization.Grant().SessionID)
	default:
		if g := deviceGrantOf(ctx); g != nil && g.sid != "" {
			info.AppendClaims("sid", g.sid)
		}
	}
	return nil
}

func (s *storage) fill(info *oidc.UserInfo, subject string, scopes []string) error {
	acc, ok := s.accounts.Get(subject)
	if !ok {
		return oidc.ErrInvalidRequest().WithDescription("the account does not exist")
	}
	if err := account.Blocked(acc.Status); err != nil {
		return oidc.ErrAccessDenied().WithDescription("%s", err.(*domain.Error).Message)
	}
	info.Subject = acc.ID
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeProfile:
			info.Name, info.PreferredUsername, info.Picture = acc.DisplayName, acc.Username, acc.AvatarURL
			info.UpdatedAt = oidc.FromTime(acc.UpdatedAt)
		case oidc.ScopeEmail:
			info.Email = acc.Email
			info.EmailVerified = oidc.Bool(acc.Email != "")
		case oidc.ScopePhone:
			info.PhoneNumber = acc.Phone
			info.PhoneNumberVerified = acc.Phone != ""
		case "roles":
			if roles := rolesOf(acc); len(roles) > 0 {
				info.AppendClaims("roles", roles)
			}
		}
	}
	return nil
}

func rolesOf(acc projections.Account) []string {
	var roles []string
	for _, g := range acc.Roles {
		if g.Org != "" {
			roles = append(roles, g.Role+"@"+g.Org)
		} else {
			roles = append(roles, g.Role)
		}
	}
	return roles
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("oidcop: JWT client authentication is not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("oidcop: the JWT profile grant is not supported")
}

func (s *storage) Health(context.Context) error { return nil }
