package events

import "time"

// Browser session events live in the auth log under the aggregate type
// "browser_session"; the aggregate id is the session id, the sid of the
// id_tokens web apps get through it. They hold only the SHA-256 hash of
// the session cookie, never the cookie.

// BrowserSessionStarted: a browser signed in on Bindery's hosted login
// page; web apps it visits next sign in without a new scan (SSO).
type BrowserSessionStarted struct {
	SessionID  string    `json:"session_id"`
	AccountID  string    `json:"account_id"`
	ClientID   string    `json:"client_id"` // the web app it signed in to first
	AMR        []string  `json:"amr"`
	AuthTime   time.Time `json:"auth_time"`
	CookieHash string    `json:"cookie_hash"` // hex SHA-256 of the cookie value
	ExpiresAt  time.Time `json:"expires_at"`
}

// EventName implements Event.
func (BrowserSessionStarted) EventName() string { return "browser_session_started" }

// BrowserSessionJoined: another web app signed in through the session
// (single sign-on); logging out tells it (back-channel logout).
type BrowserSessionJoined struct {
	SessionID string `json:"session_id"`
	AccountID string `json:"account_id"`
	ClientID  string `json:"client_id"`
}

// EventName implements Event.
func (BrowserSessionJoined) EventName() string { return "browser_session_joined" }

// BrowserSessionEnded: the browser session signs nobody in any more.
// ClientIDs are the web apps signed in through it, each told by a
// back-channel logout token when it registered a backchannel_logout_uri.
type BrowserSessionEnded struct {
	SessionID string   `json:"session_id"`
	AccountID string   `json:"account_id"`
	Reason    string   `json:"reason"` // logout
	ClientIDs []string `json:"client_ids,omitempty"`
}

// EventName implements Event.
// BrowserSessionEndedName is BrowserSessionEnded's name, for subject
// filters (the back-channel logout consumer's).
const BrowserSessionEndedName = "browser_session_ended"

func (BrowserSessionEnded) EventName() string { return BrowserSessionEndedName }
