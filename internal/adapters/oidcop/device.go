package oidcop

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/domain/oidcclient"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
)

// DevicePath is the page a device's verification_uri names: how to sign
// the device in with the mini program (scan, or type the code).
const DevicePath = "/device"

var _ op.DeviceAuthorizationStorage = (*storage)(nil)

// deviceGrant carries, through one token request, the id of the device's
// request the library found ready, from GetDeviceAuthorizatonState to
// CreateAccessToken and the id_token's claims (the library's state has no
// place for it).
type deviceGrant struct{ id, sid string }

type deviceKey struct{}

func withDeviceGrant(ctx context.Context) context.Context {
	return context.WithValue(ctx, deviceKey{}, &deviceGrant{})
}

func deviceGrantOf(ctx context.Context) *deviceGrant {
	g, _ := ctx.Value(deviceKey{}).(*deviceGrant)
	return g
}

// deviceAuthorization answers the device authorization endpoint. The
// library parses the request and authenticates the client; Bindery's use
// case opens the request, so that verification_uri_complete is the URL of
// the QR login bound to it (the library would name a user-code form).
func (p *Provider) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if err := p.authorizeDevice(w, r); err != nil {
		op.RequestError(w, r, err, p.op.Logger())
	}
}

func (p *Provider) authorizeDevice(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return oidc.ErrInvalidRequest().WithDescription("the device authorization endpoint takes a POST")
	}
	if p.storage.devices == nil {
		return oidc.ErrUnsupportedGrantType().WithDescription("the device flow is not enabled")
	}
	// Parsed here, once: the library parses on a copy of the request, and
	// the client authentication below reads the form again.
	if err := r.ParseForm(); err != nil {
		return oidc.ErrInvalidRequest().WithDescription("cannot parse the form")
	}
	req, err := op.ParseDeviceCodeRequest(r, p.op)
	if err != nil {
		return err
	}
	_, authenticated, err := op.ClientIDFromRequest(r, p.op)
	if err != nil {
		return err
	}
	c, err := p.storage.client(r.Context(), req.ClientID)
	if err != nil {
		return oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	if c.Type == oidcclient.Confidential && !authenticated {
		return oidc.ErrInvalidClient().WithDescription("a confidential client must authenticate")
	}
	scopes := slices.DeleteFunc(slices.Clone([]string(req.Scopes)), func(sc string) bool { return !slices.Contains(c.Scopes, sc) })
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	started, err := p.storage.devices.Authorize(r.Context(), meta(r.Context(), c.ClientID), c.ClientID, c.App, scopes, ip, r.UserAgent())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	httphelper.MarshalJSON(w, &oidc.DeviceAuthorizationResponse{
		DeviceCode: started.DeviceCode, UserCode: started.UserCode,
		VerificationURI: p.issuer + DevicePath, VerificationURIComplete: started.QRURL,
		ExpiresIn: started.ExpiresIn, Interval: started.Interval,
	})
	return nil
}

// StoreDeviceAuthorization is not used: Bindery's endpoint opens device
// requests itself (deviceAuthorization).
func (s *storage) StoreDeviceAuthorization(context.Context, string, string, string, time.Time, []string) error {
	return errors.New("oidcop: device requests are opened by Bindery's device authorization endpoint")
}

// GetDeviceAuthorizatonState answers a device's poll. The library maps
// the state: Done → tokens, Denied → access_denied, Expires passed →
// expired_token, else authorization_pending; context.DeadlineExceeded →
// slow_down, any other error → access_denied. Expiry is decided by
// Bindery's clock, so Expires is given relative to the library's.
func (s *storage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	if s.devices == nil {
		return nil, errors.New("oidcop: the device flow is not enabled")
	}
	poll, err := s.devices.Poll(ctx, meta(ctx, clientID), clientID, deviceCode)
	if errors.Is(err, appoidc.ErrSlowDown) {
		return nil, errors.Join(err, context.DeadlineExceeded)
	}
	if err != nil {
		return nil, err
	}
	a := poll.Authorization
	st := &op.DeviceAuthorizationState{ClientID: clientID, Scopes: a.Requested().Scopes}
	switch poll.State {
	case authorization.DeviceReady:
		g := a.Grant()
		st.Done, st.Subject, st.AMR, st.AuthTime = true, g.AccountID, g.AMR, g.AuthTime
		st.Expires = time.Now().Add(time.Minute)
		if dg := deviceGrantOf(ctx); dg != nil {
			dg.id, dg.sid = a.ID(), g.SessionID
		}
	case authorization.DeviceDenied:
		st.Denied = true
	case authorization.DevicePending:
		st.Expires = time.Now().Add(a.ExpiresAt().Sub(s.auth.Now()))
	default: // expired, or its tokens were issued: the code is spent
		st.Expires = time.Time{}
	}
	return st, nil
}

// exchangeDevice records the one exchange of a ready device's
// request; a second (even concurrent) poll fails with invalid_grant.
func (s *storage) exchangeDevice(ctx context.Context, st *op.DeviceAuthorizationState, withRefresh bool) (string, string, time.Time, error) {
	g := deviceGrantOf(ctx)
	if g == nil || g.id == "" {
		return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the device code is invalid")
	}
	out, err := s.auth.Exchange(ctx, meta(ctx, st.ClientID), g.id, st.ClientID, withRefresh)
	if err != nil {
		return "", "", time.Time{}, asOIDC(err)
	}
	return out.TokenID, out.RefreshToken, s.accessToken(st, out.TokenID, st.ClientID, st.AuthTime), nil
}
