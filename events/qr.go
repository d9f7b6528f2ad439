package events

import "time"

// QR login events live in the auth log under the aggregate type "qr"; the
// aggregate id is the QR id (22 characters of base64url, 128 random bits).
// They record who asked (the PC's address and user agent) and who answered
// (the scanning account), never the poll token: only its SHA-256 hash.
//
// A QR session moves PENDING → SCANNED → CONFIRMED → CONSUMED, or ends in
// CANCELLED, or EXPIRED when a step or a poll finds it past its TTL.

// QRCreated: a PC started a QR login for an app.
type QRCreated struct {
	QRID          string    `json:"qr_id"`
	App           string    `json:"app"`
	RequesterIP   string    `json:"requester_ip"`
	UserAgent     string    `json:"user_agent,omitempty"`
	PollTokenHash string    `json:"poll_token_hash"` // hex SHA-256 of the poll token
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	// AuthorizationID and ClientID are set when the QR login signs a
	// browser in to a web app (an OIDC authorization request): such a QR
	// hands no tokens to the page, only completes that request.
	AuthorizationID string `json:"authorization_id,omitempty"`
	ClientID        string `json:"client_id,omitempty"`
}

// EventName implements Event.
func (QRCreated) EventName() string { return "qr_created" }

// QRScanned: a logged-in mini-program user scanned the code and was shown
// the requester. ScannerApp is the app of the user's id_token.
type QRScanned struct {
	QRID       string `json:"qr_id"`
	AccountID  string `json:"account_id"`
	ScannerApp string `json:"scanner_app,omitempty"`
}

// EventName implements Event.
func (QRScanned) EventName() string { return "qr_scanned" }

// QRConfirmed: the user who scanned approved the PC's login.
type QRConfirmed struct {
	QRID      string `json:"qr_id"`
	AccountID string `json:"account_id"`
}

// EventName implements Event.
func (QRConfirmed) EventName() string { return "qr_confirmed" }

// QRConsumed: the PC holding the poll token collected the confirmed login;
// SessionID is the session family started for it (its session_issued
// follows in a separate append).
type QRConsumed struct {
	QRID      string `json:"qr_id"`
	AccountID string `json:"account_id"`
	SessionID string `json:"session_id"`
}

// EventName implements Event.
func (QRConsumed) EventName() string { return "qr_consumed" }

// QRCancelled: the user who scanned refused the PC's login.
type QRCancelled struct {
	QRID      string `json:"qr_id"`
	AccountID string `json:"account_id"`
}

// EventName implements Event.
func (QRCancelled) EventName() string { return "qr_cancelled" }

// QRExpired: a step or a poll found the session past its expiry while it
// was still open; State is the state it was in (PENDING, SCANNED or
// CONFIRMED).
type QRExpired struct {
	QRID      string    `json:"qr_id"`
	State     string    `json:"state"`
	ExpiresAt time.Time `json:"expires_at"`
}

// EventName implements Event.
func (QRExpired) EventName() string { return "qr_expired" }
