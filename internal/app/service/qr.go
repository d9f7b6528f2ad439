package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"image/jpeg"
	"image/png"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/app"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/projections"
)

// QRAggregate is the aggregate type of QR login sessions (auth log).
const QRAggregate = events.AggregateQR

// Defaults and bounds of QR logins.
const (
	DefaultQRTTL = 300 * time.Second
	// MaxQRWait bounds a long-poll.
	MaxQRWait = 30 * time.Second
	// QRAMR is the authentication method recorded in sessions a QR login
	// starts.
	QRAMR = "qr"
	// maxUserAgent bounds the user agent kept in qr_created.
	maxUserAgent = 512
)

// QRAppFinder finds the app a QR login is for, and opens its WeChat secret
// for mini-program codes (service.Apps does both).
type QRAppFinder interface {
	Get(ctx context.Context, id string) (projections.App, error)
	Secret(a projections.App) ([]byte, error)
}

// QR runs QR logins for PCs: a PC starts one, a logged-in mini-program
// user scans, confirms or cancels it, and the PC, holding the poll token,
// collects the login once. Steps go through the QR aggregate in the store;
// polls read the QR view (fed by the stream, so a PC polling one replica
// sees a confirmation made on another) and wait on its change signal.
type QR struct {
	Store    events.Store
	Repo     *events.Repository[*qrlogin.QR]
	View     *projections.QRSessions
	Sessions *Sessions
	Accounts *projections.Accounts
	// Apps checks that the app exists and says how its codes are drawn;
	// nil accepts any app slug and draws plain-link codes.
	Apps QRAppFinder
	// WeChat draws mini-program codes (getwxacodeunlimit) for apps whose
	// QR mode is wxacode; nil draws plain-link codes for every app.
	WeChat *wechat.Client
	// Changed signals any applied event (projections.Engine.Changed): a
	// poll waits on it while the view does not know the session yet.
	Changed func() (<-chan struct{}, func())
	Issuer  string        // qr_url and image_url are under it
	TTL     time.Duration // default DefaultQRTTL
	Now     func() time.Time
	Logger  *slog.Logger

	images imageCache
}

// NewQR returns the QR login service.
func NewQR(store events.Store, view *projections.QRSessions, sessions *Sessions, accounts *projections.Accounts, issuer string, ttl time.Duration) *QR {
	return &QR{
		Store: store, Repo: events.NewRepository(store, QRAggregate, qrlogin.New, 10000),
		View: view, Sessions: sessions, Accounts: accounts, Issuer: strings.TrimRight(issuer, "/"), TTL: ttl,
	}
}

func (s *QR) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *QR) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultQRTTL
}

func (s *QR) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// QRStarted is what the PC gets when it starts a QR login. PollToken is
// shown once; only its hash is stored.
type QRStarted struct {
	QRID      string `json:"qr_id"`
	QRURL     string `json:"qr_url"`
	ImageURL  string `json:"image_url"`
	PollToken string `json:"poll_token"`
	ExpiresIn int    `json:"expires_in"`
}

// QRURL is the link a plain QR code holds: {issuer}/qr/{id}.
func (s *QR) QRURL(id string) string { return s.Issuer + "/qr/" + id }

// ImageURL is where the code's PNG is served.
func (s *QR) ImageURL(id string) string { return s.Issuer + "/v1/qr/" + id + "/image.png" }

// newQRID returns 128 random bits as 22 characters of base64url: short
// enough for a wxacode scene (≤32) and safe in a NATS subject.
func newQRID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// Start opens a QR login for app, asked by the PC at ip with userAgent.
func (s *QR) Start(ctx context.Context, meta events.Meta, appID, ip, userAgent string) (QRStarted, events.Position, error) {
	if err := s.findApp(ctx, appID); err != nil {
		return QRStarted{}, events.Position{}, err
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
		return QRStarted{}, events.Position{}, translate(err)
	}
	return QRStarted{
		QRID: id, QRURL: s.QRURL(id), ImageURL: s.ImageURL(id), PollToken: poll,
		ExpiresIn: int(s.ttl().Seconds()),
	}, pos, nil
}

func (s *QR) findApp(ctx context.Context, id string) error {
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

// QRRequester is the PC that asked, as the confirm screen shows it.
type QRRequester struct {
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	CreatedAt time.Time `json:"created_at"`
}

// QRStep is the answer to a mini-program user's scan, confirm or cancel.
type QRStep struct {
	State     string      `json:"state"`
	App       string      `json:"app"`
	ExpiresIn int         `json:"expires_in"`
	Requester QRRequester `json:"requester"`
}

// Scan records that the user accountID (logged in to userApp) scanned the
// code, and answers who asked.
func (s *QR) Scan(ctx context.Context, meta events.Meta, id, accountID, userApp string) (QRStep, events.Position, error) {
	if acc, ok := s.Accounts.Get(accountID); ok && acc.Status == account.StatusDisabled {
		return QRStep{}, events.Position{}, account.ErrDisabled
	}
	return s.step(ctx, meta, id, accountID, func(q *qrlogin.QR, now time.Time) ([]events.Event, error) {
		return q.Scan(accountID, userApp, now)
	})
}

// Confirm records that the user who scanned approves the PC's login.
func (s *QR) Confirm(ctx context.Context, meta events.Meta, id, accountID string) (QRStep, events.Position, error) {
	return s.step(ctx, meta, id, accountID, func(q *qrlogin.QR, now time.Time) ([]events.Event, error) {
		return q.Confirm(accountID, now)
	})
}

// Cancel records that the user who scanned refuses the PC's login.
func (s *QR) Cancel(ctx context.Context, meta events.Meta, id, accountID string) (QRStep, events.Position, error) {
	return s.step(ctx, meta, id, accountID, func(q *qrlogin.QR, now time.Time) ([]events.Event, error) {
		return q.Cancel(accountID, now)
	})
}

// step runs one user step on the aggregate. A step that finds the session
// expired stores qr_expired and answers qr_expired.
func (s *QR) step(ctx context.Context, meta events.Meta, id, accountID string, decide func(*qrlogin.QR, time.Time) ([]events.Event, error)) (QRStep, events.Position, error) {
	if !qrlogin.ValidID(id) {
		return QRStep{}, events.Position{}, qrlogin.ErrNotFound
	}
	now := s.now()
	meta.Actor = accountID
	if meta.Time.IsZero() {
		meta.Time = now
	}
	var outcome error
	pos, q, err := s.update(ctx, meta, id, func(q *qrlogin.QR) (events.Decision, error) {
		outcome = nil
		evs, err := decide(q, now)
		if errors.Is(err, qrlogin.ErrExpired) && len(evs) > 0 {
			outcome = err
			return events.Decision{Events: evs}, nil
		}
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return QRStep{}, events.Position{}, err
	}
	if outcome != nil {
		return QRStep{}, pos, outcome
	}
	r := q.Requester()
	return QRStep{
		State: string(q.StateAt(now)), App: q.App(), ExpiresIn: secondsLeft(q.ExpiresAt(), now),
		Requester: QRRequester{IP: r.IP, UserAgent: r.UserAgent, CreatedAt: r.CreatedAt},
	}, pos, nil
}

// update runs decide on the session. A cached state may predate a step
// taken on another replica, and a refusal appends nothing (so optimistic
// concurrency cannot catch that): a refusal is checked once more on what
// the store holds before it is final.
func (s *QR) update(ctx context.Context, meta events.Meta, id string, decide func(*qrlogin.QR) (events.Decision, error)) (events.Position, *qrlogin.QR, error) {
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
	return pos, q, translate(err)
}

func secondsLeft(t, now time.Time) int {
	if !now.Before(t) {
		return 0
	}
	return int((t.Sub(now) + time.Second - 1) / time.Second)
}

// QRProfile is who scanned, as the PC is shown.
type QRProfile struct {
	DisplayName string `json:"display_name,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// QRStatus is what a poll answers. The tokens come once, in the answer
// that collects a confirmed login; ExpiresIn is then the id_token's
// lifetime, before that the seconds the QR login stays open.
type QRStatus struct {
	State        string     `json:"state"`
	ExpiresIn    int        `json:"expires_in"`
	ScannedBy    *QRProfile `json:"scanned_by,omitempty"`
	AccountID    string     `json:"account_id,omitempty"`
	IDToken      string     `json:"id_token,omitempty"`
	SessionToken string     `json:"session_token,omitempty"`
	TokenType    string     `json:"token_type,omitempty"`
}

// ErrPollTokenRequired: a poll without a poll token.
var ErrPollTokenRequired = domain.New(domain.KindUnauthorized, "poll_token_required", "send the poll token in X-Poll-Token (or ?poll_token=)")

// Poll answers the state of the QR login for the holder of its poll token.
// With wait > 0 it holds the answer until the state differs from known
// (the state at the first look when known is ""), the session ends, or
// wait passes. A poll that finds the login CONFIRMED collects it: it
// records qr_consumed (exactly one poller wins), starts the session and
// answers its tokens; every later poll sees CONSUMED without them.
func (s *QR) Poll(ctx context.Context, meta events.Meta, id, pollToken, known string, wait time.Duration) (QRStatus, events.Position, error) {
	if pollToken == "" {
		return QRStatus{}, events.Position{}, ErrPollTokenRequired
	}
	if !qrlogin.ValidID(id) {
		return QRStatus{}, events.Position{}, qrlogin.ErrNotFound
	}
	wait = min(wait, MaxQRWait)
	hash := tokens.HashToken(pollToken)
	deadline := time.Now().Add(wait)
	var pos events.Position
	for {
		sess, changed, release, err := s.watch(ctx, id)
		if err != nil {
			return QRStatus{}, pos, err
		}
		if !tokens.HashEqual(sess.PollTokenHash, hash) {
			release()
			return QRStatus{}, pos, qrlogin.ErrPollToken
		}
		st, p, err := s.settle(ctx, meta, sess, hash)
		pos = pos.Max(p)
		if err != nil {
			release()
			return QRStatus{}, pos, err
		}
		if known == "" {
			known = st.State
		}
		left := time.Until(deadline)
		if st.State != known || left <= 0 || qrlogin.State(st.State).Final() {
			release()
			return st, pos, nil
		}
		// Wake at the next change, at the session's expiry, or at the end.
		if exp := sess.ExpiresAt.Sub(s.now()); exp < left {
			left = max(exp, time.Millisecond)
		}
		timer := time.NewTimer(left)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			release()
			return st, pos, nil
		}
		timer.Stop()
		release()
	}
}

// watch finds the session and a channel closed at its next change: in the
// view, or, when the view does not know it yet (it was created a moment
// ago, possibly on another replica), in the store, waiting then for any
// applied event.
func (s *QR) watch(ctx context.Context, id string) (projections.QRSession, <-chan struct{}, func(), error) {
	var changed <-chan struct{}
	release := func() {}
	if s.Changed != nil {
		// Taken before the view is read, so that an event applied in
		// between still wakes us.
		changed, release = s.Changed()
	}
	if sess, ch, ok := s.View.Watch(id); ok {
		release()
		return sess, ch, func() {}, nil
	}
	q, _, err := s.Repo.Get(ctx, id)
	if err != nil {
		release()
		return projections.QRSession{}, nil, nil, err
	}
	if !q.Exists() {
		s.Repo.Forget(id)
		release()
		return projections.QRSession{}, nil, nil, qrlogin.ErrNotFound
	}
	if changed == nil {
		ch := make(chan struct{})
		t := time.AfterFunc(100*time.Millisecond, func() { close(ch) })
		changed, release = ch, func() { t.Stop() }
	}
	return sessionOf(q), changed, release, nil
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

// settle brings a session the poller looks at to where the clock says:
// it records the expiry of an open session past its TTL, and collects a
// confirmed login.
func (s *QR) settle(ctx context.Context, meta events.Meta, sess projections.QRSession, hash string) (QRStatus, events.Position, error) {
	now := s.now()
	state := sess.StateAt(now)
	var pos events.Position
	switch {
	case state == projections.QRExpired && sess.State != projections.QRExpired:
		pos = s.recordExpiry(ctx, meta, sess.ID, now)
	case state == projections.QRConfirmed:
		return s.consume(ctx, meta, sess, hash, now)
	}
	return s.status(sess, state, now), pos, nil
}

// recordExpiry stores qr_expired for a session a poll found past its TTL.
// It is a record, not a decision the answer waits on: a failure is logged
// and the next step or poll tries again.
func (s *QR) recordExpiry(ctx context.Context, meta events.Meta, id string, now time.Time) events.Position {
	meta.Actor = "system"
	if meta.Time.IsZero() {
		meta.Time = now
	}
	pos, _, err := s.update(ctx, meta, id, func(q *qrlogin.QR) (events.Decision, error) {
		return events.Decision{Events: q.Expire(now)}, nil
	})
	if err != nil {
		s.log().Warn("qr expiry not recorded", "qr", id, "err", err)
	}
	return pos
}

func (s *QR) status(sess projections.QRSession, state string, now time.Time) QRStatus {
	st := QRStatus{State: state}
	if !qrlogin.State(state).Final() {
		st.ExpiresIn = secondsLeft(sess.ExpiresAt, now)
	}
	if sess.ScannedBy != "" {
		st.ScannedBy = &QRProfile{}
		if acc, ok := s.Accounts.Get(sess.ScannedBy); ok {
			st.ScannedBy = &QRProfile{DisplayName: acc.DisplayName, AvatarURL: acc.AvatarURL}
		}
	}
	return st
}

// ErrQRAccountUnavailable: the confirming account is not (yet) known here;
// the PC polls again.
var ErrQRAccountUnavailable = domain.New(domain.KindUnavailable, "account_unavailable", "the confirming account is not available yet; poll again")

// consume collects a confirmed login: qr_consumed first (optimistic
// concurrency on the QR makes exactly one poller win), then the session
// in its own append. A crash between the two leaves a consumed QR without
// a session: the PC gets no tokens and starts over.
func (s *QR) consume(ctx context.Context, meta events.Meta, sess projections.QRSession, hash string, now time.Time) (QRStatus, events.Position, error) {
	acc, ok := s.Accounts.Get(sess.ScannedBy)
	if !ok {
		return QRStatus{}, events.Position{}, ErrQRAccountUnavailable
	}
	if acc.Status == account.StatusDisabled {
		return QRStatus{}, events.Position{}, account.ErrDisabled
	}
	change, issued, err := s.Sessions.Start(ClaimsFor(acc), sess.App, []string{QRAMR}, now)
	if err != nil {
		return QRStatus{}, events.Position{}, err
	}
	meta.Actor = acc.ID
	if meta.Time.IsZero() {
		meta.Time = now
	}
	var outcome error
	pos, q, err := s.update(ctx, meta, sess.ID, func(q *qrlogin.QR) (events.Decision, error) {
		outcome = nil
		evs, err := q.Consume(hash, acc.ID, change.Aggregate.ID, now)
		if errors.Is(err, qrlogin.ErrExpired) && len(evs) > 0 {
			outcome = err
			return events.Decision{Events: evs}, nil
		}
		return events.Decision{Events: evs}, err
	})
	switch {
	case errors.Is(err, qrlogin.ErrConsumed):
		// Another poller collected it.
		return s.status(sess, projections.QRConsumed, now), pos, nil
	case errors.Is(err, qrlogin.ErrExpired), errors.Is(outcome, qrlogin.ErrExpired):
		return s.status(sess, projections.QRExpired, now), pos, nil
	case errors.Is(err, qrlogin.ErrCancelled):
		return s.status(sess, projections.QRCancelled, now), pos, nil
	case err != nil:
		return QRStatus{}, pos, err
	}
	recs, err := s.Store.Append(ctx, meta, change)
	if err != nil {
		s.log().Error("qr consumed but its session was not stored", "qr", sess.ID, "err", err)
		return QRStatus{}, pos, translate(err)
	}
	pos = pos.Max(events.PositionOf(recs))
	st := s.status(sessionOf(q), string(q.Recorded()), now)
	st.ExpiresIn = issued.ExpiresIn
	st.AccountID, st.IDToken, st.SessionToken, st.TokenType = issued.AccountID, issued.IDToken, issued.SessionToken, issued.TokenType
	return st, pos, nil
}

// Image is the PNG of the QR login's code: a plain QR code of its qr_url,
// or, for an app whose QR mode is wxacode, the mini-program code WeChat
// draws with the QR id as scene (converted to PNG, cached until the
// session expires). It also says until when the image is worth caching.
func (s *QR) Image(ctx context.Context, id string) ([]byte, time.Time, error) {
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

func (s *QR) draw(ctx context.Context, sess projections.QRSession) ([]byte, error) {
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
func (s *QR) wxacode(ctx context.Context, a projections.App, id string) ([]byte, error) {
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

// imageCache keeps drawn codes until their session expires, so that page
// reloads do not spend WeChat's quota. It is bounded: past maxImages the
// expired entries go, then everything.
type imageCache struct {
	mu    sync.Mutex
	items map[string]cachedImage
}

type cachedImage struct {
	img     []byte
	expires time.Time
}

const maxImages = 2048

func (c *imageCache) get(id string, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items[id]
	if !ok || !now.Before(it.expires) {
		return nil, false
	}
	return it.img, true
}

func (c *imageCache) put(id string, img []byte, expires, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = map[string]cachedImage{}
	}
	if len(c.items) >= maxImages {
		for k, it := range c.items {
			if !now.Before(it.expires) {
				delete(c.items, k)
			}
		}
		if len(c.items) >= maxImages {
			clear(c.items)
		}
	}
	c.items[id] = cachedImage{img: img, expires: expires}
}
