// Package qr runs QR logins for PCs: start, scan, confirm, cancel, poll
// and the code image.
package qr

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/projections"
)

// Aggregate is the aggregate type of QR login sessions (auth log).
const Aggregate = events.AggregateQR

// Defaults and bounds of QR logins.
const (
	DefaultTTL = 300 * time.Second
	// MaxWait bounds a long-poll.
	MaxWait = 30 * time.Second
	// AMR is the authentication method recorded in sessions a QR login
	// starts.
	AMR = "qr"
	// maxUserAgent bounds the user agent kept in qr_created.
	maxUserAgent = 512
)

// AppFinder finds the app a QR login is for, and opens its WeChat secret
// for mini-program codes (apps.Service does both).
type AppFinder interface {
	Get(ctx context.Context, id string) (projections.App, error)
	Secret(a projections.App) ([]byte, error)
}

// View is the QR login read model (projections.QRSessions).
type View interface {
	Get(id string) (projections.QRSession, bool)
	Watch(id string) (projections.QRSession, <-chan struct{}, bool)
}

// AccountReader reads the account read model (projections.Accounts): who
// scanned, and whether that account is disabled.
type AccountReader interface {
	Get(id string) (projections.Account, bool)
}

// SessionStarter prepares the session a collected QR login starts
// (sessions.Service).
type SessionStarter interface {
	Start(c sessions.IDClaims, app string, amr []string, now time.Time) (events.Change, sessions.Issued, error)
}

// WeChat draws mini-program codes (wechat.Client).
type WeChat interface {
	UnlimitedQRCode(ctx context.Context, cred wechat.Credentials, req wechat.QRCodeRequest) ([]byte, error)
}

// Service runs QR logins for PCs: a PC starts one, a logged-in
// mini-program user scans, confirms or cancels it, and the PC, holding the
// poll token, collects the login once. Steps go through the QR aggregate in
// the store; polls read the QR view (fed by the stream, so a PC polling one
// replica sees a confirmation made on another) and wait on its change
// signal.
type Service struct {
	Store    events.Store
	Repo     *events.Repository[*qrlogin.QR]
	View     View
	Sessions SessionStarter
	Accounts AccountReader
	// Apps checks that the app exists and says how its codes are drawn;
	// nil accepts any app slug and draws plain-link codes.
	Apps AppFinder
	// WeChat draws mini-program codes (getwxacodeunlimit) for apps whose
	// QR mode is wxacode; nil draws plain-link codes for every app.
	WeChat WeChat
	// Changed signals any applied event (projections.Engine.Changed): a
	// poll waits on it while the view does not know the session yet.
	Changed func() (<-chan struct{}, func())
	// ClientName names an OIDC client in the scan answer (nil: ids only).
	ClientName func(clientID string) string
	Issuer     string        // qr_url and image_url are under it
	TTL        time.Duration // default DefaultTTL
	Now        func() time.Time
	Logger     *slog.Logger

	images imageCache
}

// New returns the QR login service.
func New(store events.Store, view View, starter SessionStarter, accounts AccountReader, issuer string, ttl time.Duration) *Service {
	usecase.Require("qr.New", "store", store, "view", view, "sessions", starter, "accounts", accounts)
	return &Service{
		Store: store, Repo: events.NewRepository(store, Aggregate, qrlogin.New, 10000),
		View: view, Sessions: starter, Accounts: accounts, Issuer: strings.TrimRight(issuer, "/"), TTL: ttl,
	}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultTTL
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// QRURL is the link a plain QR code holds: {issuer}/qr/{id}.
func (s *Service) QRURL(id string) string { return s.Issuer + "/qr/" + id }

// ImageURL is where the code's PNG is served.
func (s *Service) ImageURL(id string) string { return s.Issuer + "/v1/qr/" + id + "/image.png" }

// update runs decide on the session. A cached state may predate a step
// taken on another replica, and a refusal appends nothing (so optimistic
// concurrency cannot catch that): a refusal is checked once more on what
// the store holds before it is final.
func (s *Service) update(ctx context.Context, meta events.Meta, id string, decide func(*qrlogin.QR) (events.Decision, error)) (events.Position, *qrlogin.QR, error) {
	pos, q, err := s.Repo.Update(ctx, id, meta, decide)
	var de *domain.Error
	if errors.As(err, &de) {
		s.Repo.Forget(id)
		pos, q, err = s.Repo.Update(ctx, id, meta, decide)
	}
	if err == nil && !q.Exists() {
		s.Repo.Forget(id) // unknown ids come from the public API: do not cache them
	}
	if errors.Is(err, qrlogin.ErrNotFound) {
		s.Repo.Forget(id)
	}
	return pos, q, usecase.Translate(err)
}

func secondsLeft(t, now time.Time) int {
	if !now.Before(t) {
		return 0
	}
	return int((t.Sub(now) + time.Second - 1) / time.Second)
}

// sessionOf is the view's form of an aggregate read from the store.
func sessionOf(q *qrlogin.QR) projections.QRSession {
	r := q.Requester()
	scanner, scannerApp := q.Scanner()
	return projections.QRSession{
		ID: q.ID(), App: q.App(), State: string(q.Recorded()), RequesterIP: r.IP, UserAgent: r.UserAgent,
		PollTokenHash: q.PollTokenHash(), CreatedAt: r.CreatedAt, ExpiresAt: q.ExpiresAt(),
		ScannedBy: scanner, ScannerApp: scannerApp, SessionID: q.SessionID(),
	}
}
