package authorization

import (
	"slices"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Bounds of a device's request (RFC 8628).
const (
	DefaultDeviceTTL      = 5 * time.Minute
	DefaultDeviceInterval = 5 * time.Second
)

// DeviceRequest is what the device authorization endpoint records: the
// client, the scopes, the bound QR login and the keyed hash of the user
// code.
type DeviceRequest struct {
	ClientID, App string
	Scopes        []string
	QRID          string
	UserCodeMAC   string
	Interval, TTL time.Duration
}

// DeviceState is where a device's request stands for its next poll.
type DeviceState string

// States a device's poll finds (RFC 8628 §3.5 names the errors).
const (
	DevicePending  DeviceState = "authorization_pending"
	DeviceReady    DeviceState = "ready" // granted: the poll gets the tokens
	DeviceDenied   DeviceState = "access_denied"
	DeviceExpired  DeviceState = "expired_token"
	DeviceFinished DeviceState = "finished" // the tokens were already issued
)

// ErrNotDevice: the device code names a request that is not a device's.
var ErrNotDevice = domain.New(domain.KindValidation, "invalid_grant", "the device code is invalid")

func (a *Authorization) applyDevice(e events.DeviceAuthorizationRequested) {
	d := e
	d.Scopes = slices.Clone(e.Scopes)
	a.state, a.expiresAt, a.device = Requested, e.ExpiresAt, &d
	a.req = events.AuthorizationRequested{
		AuthorizationID: e.AuthorizationID, ClientID: e.ClientID, App: e.App, Scopes: slices.Clone(e.Scopes),
		RequestedAt: e.RequestedAt, ExpiresAt: e.ExpiresAt,
	}
}

// RecordDevice decides a device's new request at now.
func (a *Authorization) RecordDevice(r DeviceRequest, now time.Time) ([]events.Event, error) {
	if a.Exists() {
		return nil, domain.Conflict("an authorization request with this id exists")
	}
	if r.ClientID == "" || r.App == "" || r.QRID == "" || r.UserCodeMAC == "" || r.Interval <= 0 || r.TTL <= 0 {
		return nil, domain.Invalid("a device's request needs a client, an app, a QR login, a user code, an interval and a lifetime")
	}
	return []events.Event{events.DeviceAuthorizationRequested{
		AuthorizationID: a.id, ClientID: r.ClientID, App: r.App, Scopes: slices.Clone(r.Scopes),
		QRID: r.QRID, UserCodeMAC: r.UserCodeMAC, IntervalSeconds: int(r.Interval / time.Second),
		RequestedAt: now.UTC(), ExpiresAt: now.Add(r.TTL).UTC(),
	}}, nil
}

// IsDevice reports whether the request is a device's.
func (a *Authorization) IsDevice() bool { return a.device != nil }

// DeviceQR is the QR login bound to a device's request.
func (a *Authorization) DeviceQR() string {
	if a.device == nil {
		return ""
	}
	return a.device.QRID
}

// Interval is how often the device may poll.
func (a *Authorization) Interval() time.Duration {
	if a.device == nil || a.device.IntervalSeconds <= 0 {
		return DefaultDeviceInterval
	}
	return time.Duration(a.device.IntervalSeconds) * time.Second
}

// ExpiresAt is when an open request expires.
func (a *Authorization) ExpiresAt() time.Time { return a.expiresAt }

// TooSoon decides RFC 8628's slow_down: a poll less than the interval
// after the previous one (lastPoll; zero for none).
func (a *Authorization) TooSoon(lastPoll, now time.Time) bool {
	return !lastPoll.IsZero() && now.Sub(lastPoll) < a.Interval()
}

// DevicePoll says what a device's poll of the request finds at now: its
// tokens once granted (within CodeTTL of the grant, like a code), a
// denial, the end of its lifetime, or still pending.
func (a *Authorization) DevicePoll(now time.Time) (DeviceState, error) {
	if !a.IsDevice() {
		return "", ErrNotDevice
	}
	switch a.state {
	case Granted:
		if a.CheckCode(now) != nil {
			return DeviceExpired, nil
		}
		return DeviceReady, nil
	case Denied:
		return DeviceDenied, nil
	case Exchanged:
		return DeviceFinished, nil
	}
	if !now.Before(a.expiresAt) {
		return DeviceExpired, nil
	}
	return DevicePending, nil
}
