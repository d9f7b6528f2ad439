package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/qr"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/projections"
)

// UserCodeAlphabet is the user code's letters (RFC 8628 §6.1: no vowels,
// so no words; no look-alikes).
const UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// userCodeLength is the user code's letters (shown XXXX-XXXX):
// 20^8 ≈ 2.6·10^10 codes.
const userCodeLength = 8

// DeviceQRView finds QR logins, and a device's by its user code
// (projections.QRSessions).
type DeviceQRView interface {
	Get(id string) (projections.QRSession, bool)
	ByUserCode(mac string) (projections.QRSession, bool)
}

// Devices runs the Device Authorization Grant (RFC 8628): a device's
// request opens an authorization request bound to a QR login, which the
// mini-program user scans (or finds by the typed user code) and confirms;
// the device's polls collect the outcome. The device code is the request
// id with a MAC, the QR login's poll token is derived from the id, and the
// user code is kept as a keyed hash: nothing secret is stored, and any
// replica can answer any step.
type Devices struct {
	Auth *Authorizations
	QR   *qr.Service
	View DeviceQRView
	// Interval is how often a device may poll (default
	// authorization.DefaultDeviceInterval); the request lives as long as
	// its QR login.
	Interval time.Duration

	mu    sync.Mutex
	polls map[string]time.Time // request id → last poll on this replica (slow_down)
}

// DeviceStarted is the device authorization answer's content.
type DeviceStarted struct {
	DeviceCode, UserCode string
	QRID, QRURL          string
	ExpiresIn, Interval  int
}

func (d *Devices) interval() time.Duration {
	if d.Interval > 0 {
		return d.Interval
	}
	return authorization.DefaultDeviceInterval
}

func (d *Devices) mac(label, value string) string {
	m := hmac.New(sha256.New, d.Auth.CodeKey)
	m.Write([]byte(label + value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// DeviceCode is the device code of request id: "<id>.<MAC>".
func (d *Devices) DeviceCode(id string) string {
	return id + "." + d.mac("bindery device code v1:", id)
}

// pollToken is the poll token of the QR login bound to request id.
func (d *Devices) pollToken(id string) string { return "bqd." + d.mac("bindery device poll v1:", id) }

// UserCodeMAC is the keyed hash of a normalized user code (letters only,
// upper case).
func (d *Devices) UserCodeMAC(code string) string { return d.mac("bindery device user code v1:", code) }

// NormalizeUserCode accepts a typed code in any case, with or without the
// dash or spaces; ok is false for anything that cannot be a user code.
func NormalizeUserCode(typed string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(UserCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == userCodeLength
}

func newUserCode() string {
	var b strings.Builder
	max := big.NewInt(int64(len(UserCodeAlphabet)))
	for range userCodeLength {
		n, _ := rand.Int(rand.Reader, max) // crypto/rand never fails
		b.WriteByte(UserCodeAlphabet[n.Int64()])
	}
	return b.String()
}

// Authorize opens a device's request for client (of app), asking scopes,
// from ip with userAgent: a QR login bound to it (qr_created), then
// device_authorization_requested.
func (d *Devices) Authorize(ctx context.Context, meta events.Meta, clientID, app string, scopes []string, ip, userAgent string) (DeviceStarted, error) {
	id := uuid.NewString()
	now := d.Auth.Now()
	meta = withTime(meta, now, "anonymous")
	// A user code must find one live request: draw again on a clash with
	// one the view knows (rare: 2.6·10^10 codes).
	code := newUserCode()
	for i := 0; i < 3; i++ {
		if q, ok := d.View.ByUserCode(d.UserCodeMAC(code)); !ok || q.StateAt(now) == projections.QRExpired || q.Final() {
			break
		}
		code = newUserCode()
	}
	started, _, err := d.QR.StartBound(ctx, meta, app, ip, userAgent, id, clientID, d.pollToken(id))
	if err != nil {
		return DeviceStarted{}, err
	}
	ttl := d.QR.Lifetime()
	_, _, err = d.Auth.Repo.Update(ctx, id, meta, func(a *authorization.Authorization) (events.Decision, error) {
		evs, err := a.RecordDevice(authorization.DeviceRequest{
			ClientID: clientID, App: app, Scopes: scopes, QRID: started.QRID, UserCodeMAC: d.UserCodeMAC(code),
			Interval: d.interval(), TTL: ttl,
		}, now)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return DeviceStarted{}, usecase.Translate(err)
	}
	return DeviceStarted{
		DeviceCode: d.DeviceCode(id), UserCode: code[:4] + "-" + code[4:],
		QRID: started.QRID, QRURL: started.QRURL,
		ExpiresIn: int(ttl / time.Second), Interval: int(d.interval() / time.Second),
	}, nil
}
