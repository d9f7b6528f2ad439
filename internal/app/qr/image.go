package qr

import (
	"bytes"
	"context"
	"image/jpeg"
	"image/png"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/app"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/projections"
)

// Image is the PNG of the QR login's code: a plain QR code of its qr_url,
// or, for an app whose QR mode is wxacode, the mini-program code WeChat
// draws with the QR id as scene (converted to PNG, cached until the
// session expires). It also says until when the image is worth caching.
func (s *Service) Image(ctx context.Context, id string) ([]byte, time.Time, error) {
	if !qrlogin.ValidID(id) {
		return nil, time.Time{}, qrlogin.ErrNotFound
	}
	sess, ok := s.View.Get(id)
	if !ok {
		q, _, err := s.Repo.Get(ctx, id)
		if err != nil {
			return nil, time.Time{}, err
		}
		if !q.Exists() {
			s.Repo.Forget(id)
			return nil, time.Time{}, qrlogin.ErrNotFound
		}
		sess = sessionOf(q)
	}
	now := s.now()
	switch sess.StateAt(now) {
	case projections.QRExpired:
		return nil, time.Time{}, qrlogin.ErrExpired
	case projections.QRCancelled:
		return nil, time.Time{}, qrlogin.ErrCancelled
	case projections.QRConsumed:
		return nil, time.Time{}, qrlogin.ErrConsumed
	}
	if img, ok := s.images.get(id, now); ok {
		return img, sess.ExpiresAt, nil
	}
	img, err := s.draw(ctx, sess)
	if err != nil {
		return nil, time.Time{}, err
	}
	s.images.put(id, img, sess.ExpiresAt, now)
	return img, sess.ExpiresAt, nil
}

// ErrUpstream: WeChat did not draw the mini-program code.
var ErrUpstream = domain.New(domain.KindUnavailable, "upstream_unavailable", "WeChat did not draw the mini program code; try again")

func (s *Service) draw(ctx context.Context, sess projections.QRSession) ([]byte, error) {
	if s.Apps != nil && s.WeChat != nil {
		a, err := s.Apps.Get(ctx, sess.App)
		if err != nil {
			return nil, err
		}
		if a.QR.Mode == app.QRWXACode {
			return s.wxacode(ctx, a, sess.ID)
		}
	}
	return qrcode.Encode(s.QRURL(sess.ID), qrcode.Medium, 320)
}

// wxacode fetches the mini-program code (JPEG) and re-encodes it as PNG, so
// that image_url always serves one format.
func (s *Service) wxacode(ctx context.Context, a projections.App, id string) ([]byte, error) {
	secret, err := s.Apps.Secret(a)
	if err != nil {
		return nil, err
	}
	page := a.QR.Page
	if page == "" {
		page = app.DefaultQRPage
	}
	raw, err := s.WeChat.UnlimitedQRCode(ctx, wechat.Credentials{AppID: a.WeChatAppID, Secret: string(secret)},
		wechat.QRCodeRequest{Scene: id, Page: page, Width: 430})
	if err != nil {
		s.log().Warn("wxacode", "app", a.ID, "err", err)
		return nil, ErrUpstream
	}
	img, err := jpeg.Decode(bytes.NewReader(raw))
	if err != nil {
		s.log().Warn("wxacode: not a JPEG", "app", a.ID, "err", err)
		return nil, ErrUpstream
	}
	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
