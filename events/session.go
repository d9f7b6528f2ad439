package events

import "time"

// Session events live in the auth log under the aggregate type "session";
// the aggregate id is the session family id (a UUID), which is also the
// "sid" claim of every id_token the family hands out. They hold only
// SHA-256 hashes of session tokens, never a token.

// SessionIssued: a login started a session family with its first token.
type SessionIssued struct {
	SessionID string    `json:"session_id"`
	AccountID string    `json:"account_id"`
	App       string    `json:"app"`
	TokenHash string    `json:"token_hash"` // hex SHA-256 of the session token
	AMR       []string  `json:"amr,omitempty"`
	AuthTime  time.Time `json:"auth_time"`
	ExpiresAt time.Time `json:"expires_at"`
	WebApp
}

// WebApp names, on a family of a web app's refresh tokens (OpenID
// Provider), the client it was issued to, the authorization whose code
// started it and the scopes it grants. A mini-program family has none.
type WebApp struct {
	ClientID        string   `json:"client_id,omitempty"`
	AuthorizationID string   `json:"authorization_id,omitempty"`
	Scopes          []string `json:"scopes,omitempty"`
}

// EventName implements Event.
func (SessionIssued) EventName() string { return "session_issued" }

// SessionRefreshed: the family's token was rotated; PreviousHash is now a
// used token (presenting it again is reuse). It repeats the family's facts
// (account, app, amr, auth_time) so that the family stays intact when the
// auth log's retention has dropped its session_issued.
type SessionRefreshed struct {
	SessionID    string    `json:"session_id"`
	AccountID    string    `json:"account_id"`
	App          string    `json:"app"`
	PreviousHash string    `json:"previous_hash"`
	TokenHash    string    `json:"token_hash"`
	AMR          []string  `json:"amr,omitempty"`
	AuthTime     time.Time `json:"auth_time"`
	ExpiresAt    time.Time `json:"expires_at"`
	WebApp
}

// EventName implements Event.
func (SessionRefreshed) EventName() string { return "session_refreshed" }

// Reasons a session family was revoked.
const (
	RevokeLogout          = "logout"
	RevokeReuseDetected   = "reuse_detected"
	RevokeAccountDisabled = "account_disabled"
	RevokeAdmin           = "admin" // an administrator ended it (admin API, console)
	// RevokeLoginRefused: the login it was started for did not stand (its
	// code was spent meanwhile, by a concurrent login): its token was never
	// handed out.
	RevokeLoginRefused = "login_refused"
	// RevokeByClient: a web app revoked its refresh token (RFC 7009).
	RevokeByClient = "revoked"
	// RevokeCodeReused: the code that started the family was used again.
	RevokeCodeReused = "code_reused"
)

// SessionRevoked: the family may no longer be refreshed.
type SessionRevoked struct {
	SessionID string `json:"session_id"`
	AccountID string `json:"account_id"`
	Reason    string `json:"reason"` // logout, reuse_detected, account_disabled, admin, login_refused, revoked, code_reused
}

// EventName implements Event.
func (SessionRevoked) EventName() string { return "session_revoked" }

// SessionReuseDetected: an already rotated token of the family was
// presented (RFC 9700 §4.14.2): someone else may hold a copy. It is always
// followed by session_revoked with reason reuse_detected.
type SessionReuseDetected struct {
	SessionID string `json:"session_id"`
	AccountID string `json:"account_id"`
	TokenHash string `json:"token_hash"` // the rotated token presented again
}

// EventName implements Event.
func (SessionReuseDetected) EventName() string { return "session_reuse_detected" }
