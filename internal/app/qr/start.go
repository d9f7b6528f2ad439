package qr

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"github.com/bindery/bindery/domain/app"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// Started is what the PC gets when it starts a QR login. PollToken is
// shown once; only its hash is stored.
type Started struct {
	QRID      string `json:"qr_id"`
	QRURL     string `json:"qr_url"`
	ImageURL  string `json:"image_url"`
	PollToken string `json:"poll_token"`
	ExpiresIn int    `json:"expires_in"`
}

// newQRID returns 128 random bits as 22 characters of base64url: short
// enough for a wxacode scene (≤32) and safe in a NATS subject.
func newQRID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// Start opens a QR login for app, asked by the PC at ip with userAgent.
func (s *Service) Start(ctx context.Context, meta events.Meta, appID, ip, userAgent string) (Started, events.Position, error) {
	if err := s.findApp(ctx, appID); err != nil {
		return Started{}, events.Position{}, err
	}
	now := s.now()
	id := newQRID()
	poll, hash := tokens.NewSessionToken("bqp")
	req := qrlogin.Requester{IP: ip, UserAgent: cleanUserAgent(userAgent), CreatedAt: now}
	if meta.Actor == "" {
		meta.Actor = "anonymous"
	}
	if meta.Time.IsZero() {
		meta.Time = now
	}
	pos, _, err := s.Repo.Update(ctx, id, meta, func(q *qrlogin.QR) (events.Decision, error) {
		evs, err := q.Create(appID, req, hash, s.ttl())
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return Started{}, events.Position{}, usecase.Translate(err)
	}
	return Started{
		QRID: id, QRURL: s.QRURL(id), ImageURL: s.ImageURL(id), PollToken: poll,
		ExpiresIn: int(s.ttl().Seconds()),
	}, pos, nil
}

func (s *Service) findApp(ctx context.Context, id string) error {
	if s.Apps == nil {
		if !app.ValidID(id) {
			return app.ErrNotFound
		}
		return nil
	}
	_, err := s.Apps.Get(ctx, id)
	return err
}

// cleanUserAgent keeps a user agent printable, valid UTF-8 and bounded.
func cleanUserAgent(ua string) string {
	ua = strings.ToValidUTF8(ua, "")
	ua = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, ua)
	for len(ua) > maxUserAgent {
		_, n := utf8.DecodeLastRuneInString(ua)
		ua = ua[:len(ua)-n]
	}
	return ua
}
