package events

import "time"

// Authorization events live in the auth log under the aggregate type
// "authorization"; the aggregate id is the authorization request id (a
// UUID) of one OIDC authorization code flow. They never hold the code, a
// token, a cookie value or a client secret; the client's state is sealed.

// AuthorizationRequested: a web app (ClientID) sent a browser to the
// authorization endpoint. RedirectURI is registered for the client (exact
// match); CodeChallenge is the PKCE S256 challenge (a hash); StateSealed
// is the client's state sealed under the master key (aad
// "oidc-state:<authorization_id>").
type AuthorizationRequested struct {
	AuthorizationID     string    `json:"authorization_id"`
	ClientID            string    `json:"client_id"`
	App                 string    `json:"app"`
	RedirectURI         string    `json:"redirect_uri"`
	Scopes              []string  `json:"scopes"`
	StateSealed         string    `json:"state_sealed,omitempty"`
	Nonce               string    `json:"nonce,omitempty"`
	CodeChallenge       string    `json:"code_challenge,omitempty"`
	CodeChallengeMethod string    `json:"code_challenge_method,omitempty"`
	ResponseMode        string    `json:"response_mode,omitempty"`
	Prompt              []string  `json:"prompt,omitempty"`
	MaxAge              *int64    `json:"max_age,omitempty"`
	LoginHint           string    `json:"login_hint,omitempty"`
	HintSubject         string    `json:"hint_subject,omitempty"` // sub of a valid id_token_hint
	RequestedAt         time.Time `json:"requested_at"`
	ExpiresAt           time.Time `json:"expires_at"`
}

// EventName implements Event.
func (AuthorizationRequested) EventName() string { return "authorization_requested" }

// AuthorizationGranted: the person signed in (AMR says how; QRID names the
// QR login confirmed) and the request may now be answered with a code.
// SessionID is the sid of the tokens issued for it.
type AuthorizationGranted struct {
	AuthorizationID string    `json:"authorization_id"`
	ClientID        string    `json:"client_id"`
	AccountID       string    `json:"account_id"`
	SessionID       string    `json:"session_id"`
	AMR             []string  `json:"amr"`
	AuthTime        time.Time `json:"auth_time"`
	QRID            string    `json:"qr_id,omitempty"`
	GrantedAt       time.Time `json:"granted_at"`
}

// EventName implements Event.
func (AuthorizationGranted) EventName() string { return "authorization_granted" }

// AuthorizationDenied: the request ends without a code; Reason is the
// OAuth error the browser is sent back with (access_denied when the user
// cancelled the QR login, login_required for prompt=none).
type AuthorizationDenied struct {
	AuthorizationID string `json:"authorization_id"`
	ClientID        string `json:"client_id"`
	AccountID       string `json:"account_id,omitempty"`
	Reason          string `json:"reason"`
}

// EventName implements Event.
func (AuthorizationDenied) EventName() string { return "authorization_denied" }

// CodeExchanged: the client exchanged the request's code at the token
// endpoint (once: a second use is refused). TokenID is the jti of the
// access token issued; SessionID the family of refresh tokens started with
// it (offline_access), whose session_issued is stored in the same append.
type CodeExchanged struct {
	AuthorizationID string `json:"authorization_id"`
	ClientID        string `json:"client_id"`
	AccountID       string `json:"account_id"`
	TokenID         string `json:"token_id"`
	SessionID       string `json:"session_id,omitempty"`
}

// EventName implements Event.
func (CodeExchanged) EventName() string { return "code_exchanged" }

// AuthorizationSignInFailed: a sign-in on the hosted login page by an
// alternative to the QR code (Method password or otp) failed; Reason is
// the problem code the page was answered (invalid_credentials,
// invalid_otp). A request dies after a few of them. Neither what was
// typed nor whether an account matched is recorded here (the account's
// password guard holds its own login_failed).
type AuthorizationSignInFailed struct {
	AuthorizationID string `json:"authorization_id"`
	ClientID        string `json:"client_id"`
	Method          string `json:"method"`
	Reason          string `json:"reason"`
}

// EventName implements Event.
func (AuthorizationSignInFailed) EventName() string { return "authorization_sign_in_failed" }

// AuthorizationOTPRequested: the hosted login page asked for a one-time
// code to an address (counted for the request's send limit), whether or
// not the address belongs to an account; the code's otp_sent, when one
// went out, is stored beside it. ToHash is the address's otp aggregate id
// (an HMAC under a key derived from the master key), never the address.
type AuthorizationOTPRequested struct {
	AuthorizationID string `json:"authorization_id"`
	Channel         string `json:"channel"`
	ToHash          string `json:"to_hash"`
}

// EventName implements Event.
func (AuthorizationOTPRequested) EventName() string { return "authorization_otp_requested" }
