package oidc

import (
	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/projections"
)

// ErrUserCodeInvalid: no open device request has this user code (never
// issued, expired or finished: the answer does not say which).
var ErrUserCodeInvalid = domain.New(domain.KindNotFound, "user_code_invalid", "no device is waiting with this code; check the code on the device's screen")

// Lookup finds the QR login of the open device request whose user code
// was typed (any case, the dash optional), for the mini program to scan
// and confirm as if it had scanned the device's QR.
func (d *Devices) Lookup(typed string) (string, error) {
	code, ok := NormalizeUserCode(typed)
	if !ok {
		return "", ErrUserCodeInvalid
	}
	q, ok := d.View.ByUserCode(d.UserCodeMAC(code))
	if !ok || q.Final() || q.StateAt(d.Auth.Now()) == projections.QRExpired {
		return "", ErrUserCodeInvalid
	}
	return q.ID, nil
}
