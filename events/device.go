package events

import "time"

// DeviceAuthorizationRequested: a device (a TV, a kiosk, a CLI) of the web
// app ClientID asked to be signed in through the Device Authorization
// Grant (RFC 8628). It opens an authorization request (aggregate
// "authorization", id AuthorizationID) that the QR login QRID, bound to
// it, completes: authorization_granted, authorization_denied and
// code_exchanged follow as for a browser's request. Neither the device
// code nor the user code is recorded: the device code is the request id
// with a MAC, and UserCodeMAC is a keyed hash (HMAC-SHA256 under a key
// derived from the master key) of the normalized user code, by which a
// typed code finds the QR. IntervalSeconds is the polling interval the
// device was told.
type DeviceAuthorizationRequested struct {
	AuthorizationID string    `json:"authorization_id"`
	ClientID        string    `json:"client_id"`
	App             string    `json:"app"`
	Scopes          []string  `json:"scopes"`
	QRID            string    `json:"qr_id"`
	UserCodeMAC     string    `json:"user_code_mac"`
	IntervalSeconds int       `json:"interval_seconds"`
	RequestedAt     time.Time `json:"requested_at"`
	ExpiresAt       time.Time `json:"expires_at"`
}

// EventName implements Event.
func (DeviceAuthorizationRequested) EventName() string { return "device_authorization_requested" }
