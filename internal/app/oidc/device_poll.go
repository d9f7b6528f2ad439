package oidc

import (
	"context"
	"crypto/hmac"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/projections"
)

// ErrSlowDown: the device polls faster than its interval (RFC 8628
// slow_down).
var ErrSlowDown = domain.New(domain.KindRateLimited, "slow_down", "poll no faster than the interval")

// maxPollEntries bounds the last-poll table; past it, entries older than
// a request's lifetime go.
const maxPollEntries = 10000

// DevicePoll is what a device's poll found: the state, and the request
// (for the tokens once DeviceReady).
type DevicePoll struct {
	State         authorization.DeviceState
	Authorization *authorization.Authorization
}

// Poll answers a poll of the token endpoint by clientID with deviceCode.
// A request whose QR login was confirmed is granted here, by whichever
// replica the device polls (the QR login is collected with the poll token
// derived from the request id); a cancelled one is denied.
func (d *Devices) Poll(ctx context.Context, meta events.Meta, clientID, deviceCode string) (DevicePoll, error) {
	id, mac, ok := strings.Cut(deviceCode, ".")
	if !ok || uuid.Validate(id) != nil || !hmac.Equal([]byte(id+"."+mac), []byte(d.DeviceCode(id))) {
		return DevicePoll{}, authorization.ErrNotDevice
	}
	a, err := d.Auth.Get(ctx, id)
	if errors.Is(err, authorization.ErrNotFound) {
		return DevicePoll{}, authorization.ErrNotDevice
	}
	if err != nil {
		return DevicePoll{}, err
	}
	if !a.IsDevice() || a.Requested().ClientID != clientID {
		return DevicePoll{}, authorization.ErrNotDevice
	}
	now := d.Auth.Now()
	if a.TooSoon(d.lastPoll(id, now), now) {
		return DevicePoll{}, ErrSlowDown
	}
	if a.State() == authorization.Requested && a.Open(now) == nil {
		if a, err = d.collect(ctx, meta, a, now); err != nil {
			return DevicePoll{}, err
		}
	}
	st, err := a.DevicePoll(now)
	if err != nil {
		return DevicePoll{}, err
	}
	if st != authorization.DevicePending {
		d.forget(id)
	}
	return DevicePoll{State: st, Authorization: a}, nil
}

// collect completes the request from its QR login when the user confirmed
// or cancelled it, and answers the request as it stands then.
func (d *Devices) collect(ctx context.Context, meta events.Meta, a *authorization.Authorization, now time.Time) (*authorization.Authorization, error) {
	q, ok := d.View.Get(a.DeviceQR())
	if !ok || (q.State != projections.QRConfirmed && q.State != projections.QRCancelled) {
		return a, nil
	}
	sid := uuid.NewString()
	in, _, err := d.QR.ConsumeFor(ctx, meta, q.ID, d.pollToken(a.ID()), a.ID(), sid)
	switch {
	case errors.Is(err, qrlogin.ErrCancelled):
		if _, err := d.Auth.Deny(ctx, meta, a.ID(), "access_denied", q.ScannedBy); err != nil && !errors.Is(err, authorization.ErrFinished) {
			return nil, err
		}
	case errors.Is(err, qrlogin.ErrConsumed), errors.Is(err, qrlogin.ErrExpired):
		// Another replica collected it, or it is over: the request says.
	case err != nil:
		return nil, err
	default:
		if _, err := d.Auth.Approve(ctx, meta, a.ID(), Grant{
			AccountID: in.AccountID, SessionID: sid, AMR: []string{AMRQR}, AuthTime: now, QRID: q.ID,
		}); err != nil && !errors.Is(err, authorization.ErrFinished) {
			return nil, err
		}
	}
	d.Auth.Repo.Forget(a.ID())
	return d.Auth.Get(ctx, a.ID())
}

// lastPoll records a poll of request id at now and answers the previous
// one (zero for none). The table is this replica's: a device that spreads
// its polls over replicas is slowed down less, never refused wrongly.
func (d *Devices) lastPoll(id string, now time.Time) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.polls == nil {
		d.polls = map[string]time.Time{}
	}
	if len(d.polls) >= maxPollEntries {
		for k, t := range d.polls {
			if now.Sub(t) > d.QR.Lifetime() {
				delete(d.polls, k)
			}
		}
	}
	last := d.polls[id]
	d.polls[id] = now
	return last
}

func (d *Devices) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.polls, id)
}
