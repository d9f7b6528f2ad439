package projections

import "github.com/bindery/bindery/events"

// deviceRequested marks the QR login bound to a device's request with the
// keyed hash of its user code, by which a typed code finds it. Held: v.mu.
func (v *QRSessions) deviceRequested(e events.DeviceAuthorizationRequested, r events.Record) {
	if v.byID[e.QRID] == nil {
		return // its qr_created fell out of the auth log's retention
	}
	v.change(e.QRID, r, func(q *QRSession) { q.UserCodeMAC = e.UserCodeMAC })
	v.byCode[e.UserCodeMAC] = e.QRID
}

// forgetCode drops a pruned session's user code. Held: v.mu.
func (v *QRSessions) forgetCode(q *QRSession) {
	if q.UserCodeMAC != "" && v.byCode[q.UserCodeMAC] == q.ID {
		delete(v.byCode, q.UserCodeMAC)
	}
}

// ByUserCode returns a copy of the QR login of the device's request whose
// user code has this keyed hash, or false.
func (v *QRSessions) ByUserCode(mac string) (QRSession, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	q, ok := v.byID[v.byCode[mac]]
	if !ok {
		return QRSession{}, false
	}
	return *q, true
}
