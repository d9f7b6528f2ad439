package events

import "time"

// Kinds of token a TokenRevoked names.
const (
	TokenTypeAccess  = "access_token"
	TokenTypeRefresh = "refresh_token"
)

// TokenRevoked: a web app's token was revoked — by its client at the
// revocation endpoint (reason "revoked", RFC 7009) or because the code it
// was issued for was used a second time (reason "code_reused"). An access
// token is named by its jti (TokenID) and lives in the auth log under its
// authorization (subject bindery.events.authorization.<id>.token_revoked);
// a refresh token by its family (SessionID) and the SHA-256 of the token
// (TokenHash), under the session family, followed by session_revoked.
// Never the token itself.
type TokenRevoked struct {
	AuthorizationID string    `json:"authorization_id"`
	ClientID        string    `json:"client_id"`
	AccountID       string    `json:"account_id"`
	TokenType       string    `json:"token_type"` // access_token, refresh_token
	TokenID         string    `json:"token_id,omitempty"`
	SessionID       string    `json:"session_id,omitempty"`
	TokenHash       string    `json:"token_hash,omitempty"`
	ExpiresAt       time.Time `json:"expires_at,omitzero"`
	Reason          string    `json:"reason"` // revoked, code_reused
}

// EventName implements Event.
func (TokenRevoked) EventName() string { return "token_revoked" }
