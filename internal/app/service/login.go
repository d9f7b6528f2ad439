package service

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/app"
	"github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/otpsend"
	"github.com/bindery/bindery/internal/adapters/verify"
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/crypto/hostcode"
	"github.com/bindery/bindery/internal/crypto/password"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/projections"
)

// Auth-log aggregate types of login and binding (names kept for callers;
// the values live in events).
const (
	LoginAggregate  = events.AggregateLogin
	TicketAggregate = events.AggregateTicket
	OTPAggregate    = events.AggregateOTP
)

// TicketPrefix starts every bind ticket ("bbt.<base64url of 32 bytes>").
const TicketPrefix = "bbt"

// PositionWaiter waits until the views have applied a position, or for
// the next applied event (projections.Engine).
type PositionWaiter interface {
	WaitFor(ctx context.Context, pos events.Position) error
	Changed() (<-chan struct{}, func())
}

// OTPSender delivers one-time codes (internal/otpsend).
type OTPSender interface {
	Supports(channel string) bool
	Send(ctx context.Context, m otpsend.Message) error
}

// Login runs mini-program logins (wx.login codes, host codes, phone
// codes) and the binds and registrations that finish a pending one.
type Login struct {
	Store    events.Store
	Apps     *Apps
	Accounts *Accounts
	View     *projections.Accounts
	Engine   PositionWaiter
	Sessions *Sessions
	WeChat   *wechat.Client
	Sender   OTPSender
	// Verifier calls the customer's account API of verify-mode apps;
	// Authz applies the roles and orgs it answers.
	Verifier *verify.Client
	Authz    *Authz
	// OTPKey keys the HMAC that one-time codes are stored as (derived from
	// the master key, so that a reader of the events cannot try all
	// million codes).
	OTPKey []byte
	Now    func() time.Time
	Log    *slog.Logger

	once   sync.Once
	guards *events.Repository[*login.PasswordGuard]
	dummy  string // a password hash to verify against when there is none (timing)
}

func (l *Login) init() {
	l.once.Do(func() {
		l.guards = events.NewRepository(l.Store, LoginAggregate, login.NewPasswordGuard, 10000)
		if l.Log == nil {
			l.Log = slog.New(slog.DiscardHandler)
		}
		if l.Now == nil {
			l.Now = time.Now
		}
		hasher := password.Hash
		if l.Accounts != nil && l.Accounts.Hasher != nil {
			hasher = l.Accounts.Hasher
		}
		l.dummy, _ = hasher(rand.Text())
	})
}

// stamp dates a command's events by the service's clock, which its
// decisions (expiry, windows) are made on too.
func (l *Login) stamp(meta events.Meta) events.Meta {
	l.init()
	meta.Time = l.Now()
	return meta
}

// Outcome is the answer of a login, bind or registration.
type Outcome struct {
	Status       string   `json:"status"`
	AccountID    string   `json:"account_id,omitempty"`
	IDToken      string   `json:"id_token,omitempty"`
	SessionToken string   `json:"session_token,omitempty"`
	TokenType    string   `json:"token_type,omitempty"`
	BindTicket   string   `json:"bind_ticket,omitempty"`
	BindMethods  []string `json:"bind_methods,omitempty"`
	ExpiresIn    int      `json:"expires_in"`
}

func okOutcome(is Issued) Outcome {
	return Outcome{Status: login.StatusOK, AccountID: is.AccountID, IDToken: is.IDToken, SessionToken: is.SessionToken, TokenType: is.TokenType, ExpiresIn: is.ExpiresIn}
}

// hashHex is hex(sha256(parts joined by NUL)).
func hashHex(parts ...string) string {
	s := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(s[:])
}

// AttemptID is the id of one code's login aggregate (kind: "code",
// "phone", "nonce" of a host code, "hostcode" for one that did not
// verify): every outcome of the code is appended to it expecting no
// earlier event, so a code is spent once.
func AttemptID(app, kind, code string) string { return hashHex(app, kind, code) }

// checkCode refuses what no issuer hands out: empty, huge, or not one
// visible ASCII token.
func checkCode(code string) error {
	if code == "" || len(code) > hostcode.MaxCodeLen {
		return login.ErrInvalidCode
	}
	for i := 0; i < len(code); i++ {
		if code[i] <= ' ' || code[i] >= 0x7f {
			return login.ErrInvalidCode
		}
	}
	return nil
}

func amr(kind string, more ...string) []string {
	first := "wechat"
	if kind == events.AppKindHost {
		first = "host"
	}
	return append([]string{first}, more...)
}

// WithRoutedCode logs in with "<app>~<code>" (code routing).
func (l *Login) WithRoutedCode(ctx context.Context, meta events.Meta, routed string) (Outcome, events.Position, error) {
	appID, code, ok := strings.Cut(routed, "~")
	if !ok || appID == "" {
		return Outcome{}, events.Position{}, domain.New(domain.KindValidation, "invalid_code", "code: expected <app>~<code>")
	}
	return l.WithCode(ctx, meta, appID, code)
}

// WithCode logs in with a wx.login code (apps of kind wechat) or a code
// minted by the host app (kind host).
func (l *Login) WithCode(ctx context.Context, meta events.Meta, appID, code string) (Outcome, events.Position, error) {
	meta = l.stamp(meta) // stamp runs init
	a, err := l.Apps.Get(ctx, appID)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if err := checkCode(code); err != nil {
		return Outcome{}, events.Position{}, err
	}
	if a.Kind == events.AppKindHost {
		secret, err := l.Apps.Secret(a)
		if err != nil {
			return Outcome{}, events.Position{}, err
		}
		claims, err := hostcode.Verify(secret, code, l.Now())
		if err != nil {
			e := hostError(err)
			l.fail(ctx, meta, []string{AttemptID(a.ID, "hostcode", code)}, events.LoginFailed{App: a.ID, Method: login.MethodHostCode, Reason: e.Code})
			return Outcome{}, events.Position{}, e
		}
		p := events.ProvenIdentity{App: a.ID, HostUID: claims.UID}
		return l.resolve(ctx, meta, a, p, login.MethodHostCode, []string{AttemptID(a.ID, "nonce", claims.Nonce)}, amr(a.Kind), false)
	}
	sess, err := l.code2Session(ctx, meta, a, code, login.MethodCode)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	p := events.ProvenIdentity{App: a.ID, OpenID: sess.OpenID, UnionID: sess.UnionID}
	return l.resolve(ctx, meta, a, p, login.MethodCode, []string{AttemptID(a.ID, "code", code)}, amr(a.Kind), false)
}

// WithPhone logs in with a getPhoneNumber code and, optionally, the
// wx.login code, so that the match rules see the phone and the
// openid/unionid together.
func (l *Login) WithPhone(ctx context.Context, meta events.Meta, appID, phoneCode, loginCode string) (Outcome, events.Position, error) {
	meta = l.stamp(meta) // stamp runs init
	a, err := l.Apps.Get(ctx, appID)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if a.Kind != events.AppKindWeChat {
		return Outcome{}, events.Position{}, login.ErrWrongKind
	}
	if err := checkCode(phoneCode); err != nil {
		return Outcome{}, events.Position{}, err
	}
	if loginCode != "" {
		if err := checkCode(loginCode); err != nil {
			return Outcome{}, events.Position{}, err
		}
	}
	attempts := []string{AttemptID(a.ID, "phone", phoneCode)}
	if err := l.spent(ctx, attempts[0]); err != nil {
		return Outcome{}, events.Position{}, err
	}
	phone, err := l.phoneNumber(ctx, a, phoneCode)
	if err != nil {
		l.fail(ctx, meta, attempts, events.LoginFailed{App: a.ID, Method: login.MethodPhone, Reason: codeOf(err)})
		return Outcome{}, events.Position{}, err
	}
	p := events.ProvenIdentity{App: a.ID, Phone: phone}
	if loginCode != "" {
		sess, err := l.code2Session(ctx, meta, a, loginCode, login.MethodPhone)
		if err != nil {
			return Outcome{}, events.Position{}, err
		}
		p.OpenID, p.UnionID = sess.OpenID, sess.UnionID
		attempts = append(attempts, AttemptID(a.ID, "code", loginCode))
	}
	return l.resolve(ctx, meta, a, p, login.MethodPhone, attempts, amr(a.Kind, "phone"), true)
}

func (l *Login) credentials(a projections.App) (wechat.Credentials, error) {
	secret, err := l.Apps.Secret(a)
	if err != nil {
		return wechat.Credentials{}, err
	}
	return wechat.Credentials{AppID: a.WeChatAppID, Secret: string(secret)}, nil
}

// spent refuses a code that Bindery has seen before (WECHAT.md: never send
// a code to WeChat twice), without asking WeChat: its login attempt
// aggregate exists already.
func (l *Login) spent(ctx context.Context, attempt string) error {
	v, err := l.Store.Version(ctx, events.Aggregate{Type: LoginAggregate, ID: attempt})
	if err != nil {
		return err
	}
	if v > 0 {
		return login.ErrCodeUsed
	}
	return nil
}

func (l *Login) code2Session(ctx context.Context, meta events.Meta, a projections.App, code, method string) (wechat.Session, error) {
	attempt := AttemptID(a.ID, "code", code)
	if err := l.spent(ctx, attempt); err != nil {
		return wechat.Session{}, err
	}
	cred, err := l.credentials(a)
	if err != nil {
		return wechat.Session{}, err
	}
	sess, err := l.WeChat.Code2Session(ctx, cred, code)
	if err != nil {
		e := l.wechatError(a.ID, err)
		l.fail(ctx, meta, []string{attempt}, events.LoginFailed{App: a.ID, Method: method, Reason: e.Code})
		return wechat.Session{}, e
	}
	return sess, nil
}

// phoneNumber asks WeChat for the number behind a phone code, in E.164.
func (l *Login) phoneNumber(ctx context.Context, a projections.App, code string) (string, error) {
	cred, err := l.credentials(a)
	if err != nil {
		return "", err
	}
	ph, err := l.WeChat.PhoneNumber(ctx, cred, code)
	if err != nil {
		return "", l.wechatError(a.ID, err)
	}
	phone, err := account.NormalizePhone(ph.E164)
	if err != nil || phone == "" {
		l.Log.Warn("wechat phone number is not E.164", "app", a.ID)
		return "", login.ErrUpstreamDown
	}
	return phone, nil
}

// wechatError maps a WeChat answer to the API's stable codes.
func (l *Login) wechatError(app string, err error) *domain.Error {
	var we *wechat.Error
	isWe := errors.As(err, &we)
	switch {
	case wechat.IsInvalidCode(err):
		return login.ErrInvalidCode
	case wechat.IsCodeUsed(err):
		return login.ErrCodeUsed
	case wechat.IsRateLimited(err):
		return login.RateLimited(time.Minute, "WeChat's per-user limit was reached; retry in a minute").(*domain.Error)
	case wechat.IsBadCredentials(err), isWe && (we.Code == 41002 || we.Code == 41004):
		l.Log.Error("wechat refused the app's credentials", "app", app, "err", err)
		return login.ErrUpstreamMisconf
	case isWe && we.Code == 40226:
		return domain.New(domain.KindForbidden, "user_blocked", "WeChat blocked this user's login as high-risk")
	case isWe && (we.Code == 41008):
		return login.ErrInvalidCode
	}
	l.Log.Warn("wechat unavailable", "app", app, "err", err)
	return login.ErrUpstreamDown
}

func hostError(err error) *domain.Error {
	if errors.Is(err, hostcode.ErrExpired) || errors.Is(err, hostcode.ErrTooLong) {
		return login.ErrCodeExpired
	}
	return login.ErrInvalidCode
}

func codeOf(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return "internal_error"
}

// attemptChanges puts ev on the first attempt and marks the others spent;
// each is a new aggregate (Expected 0), so a code seen before conflicts.
func attemptChanges(attempts []string, app, method string, ev events.Event) []events.Change {
	out := make([]events.Change, 0, len(attempts))
	for i, id := range attempts {
		var e events.Event = ev
		if i > 0 {
			e = events.CodeSpent{App: app, Method: method, Login: attempts[0]}
		}
		out = append(out, events.Change{Aggregate: events.Aggregate{Type: LoginAggregate, ID: id}, Events: []events.Event{e}})
	}
	return out
}

// fail records a failed login on its attempts, best effort: a code seen
// before already has its aggregate, and then there is nothing to add.
func (l *Login) fail(ctx context.Context, meta events.Meta, attempts []string, ev events.LoginFailed) {
	if _, err := l.Store.Append(ctx, meta, attemptChanges(attempts, ev.App, ev.Method, ev)...); err != nil && !errors.Is(err, events.ErrConflict) {
		l.Log.Warn("recording a failed login", "app", ev.App, "err", err)
	}
}

// resolve runs the match rules over what the login proved and answers OK
// (with a new session), or a bind ticket, or account_not_found.
func (l *Login) resolve(ctx context.Context, meta events.Meta, a projections.App, p events.ProvenIdentity, method string, attempts []string, amr []string, phoneLogin bool) (Outcome, events.Position, error) {
	cands := login.Candidates(a.Kind, a.MatchRules, p)
	accID, idx := "", -1
	for i, c := range cands {
		owner, err := l.Store.Owner(ctx, c.Kind, c.Value)
		if err != nil {
			return Outcome{}, events.Position{}, err
		}
		if owner != "" {
			accID, idx = owner, i
			break
		}
	}
	now := l.Now()
	rule := ""
	if idx >= 0 {
		rule = cands[idx].Rule
	}
	var pos events.Position
	if accID == "" && a.Kind == events.AppKindHost && verifying(a) {
		// Nobody matched: the customer's account API may know the user.
		vid, vpos, err := l.verifyHostUser(ctx, meta, a, p.HostUID)
		if err != nil {
			l.fail(ctx, meta, attempts, events.LoginFailed{App: a.ID, Method: method, Reason: codeOf(err)})
			return Outcome{}, events.Position{}, err
		}
		accID, rule, pos = vid, "verify", vpos
	}
	if accID == "" {
		if phoneLogin && a.OnNoMatch != app.OnNoMatchRegister {
			l.fail(ctx, meta, attempts, events.LoginFailed{App: a.ID, Method: method, Reason: login.ErrAccountNotFound.Code})
			return Outcome{}, events.Position{}, login.ErrAccountNotFound
		}
		return l.pending(ctx, meta, a, p, method, attempts, now)
	}
	// Whether the account may log in is decided on its aggregate, fresh
	// from the store, never on this replica's view, which may lag a
	// disable made on another replica. With the cache current, the refresh
	// is one subject-index lookup.
	st, _, err := l.Accounts.Repo.Refresh(ctx, accID)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	disabled := errors.Is(st.CanLogIn(), account.ErrDisabled)
	if idx > 0 && !disabled {
		f := login.BackfillFor(p, cands, idx)
		bp, _, err := l.Accounts.Repo.Update(ctx, accID, meta, func(acc *account.Account) (events.Decision, error) {
			evs, err := acc.Backfill(f)
			return events.Decision{Events: evs}, err
		})
		var taken *events.ClaimTakenError
		switch {
		case errors.As(err, &taken):
			// Another account holds an earlier rule's value: the login
			// stands, the back-fill does not happen.
			l.Log.Info("back-fill skipped: value belongs to another account", "app", a.ID, "kind", taken.Kind)
		case errors.Is(err, account.ErrDisabled):
			disabled = true // disabled since the refresh
		case err != nil:
			return Outcome{}, events.Position{}, translate(err)
		}
		pos = bp
	}
	if disabled {
		l.fail(ctx, meta, attempts, events.LoginFailed{App: a.ID, AccountID: accID, Method: method, Reason: account.ErrDisabled.Code})
		return Outcome{}, events.Position{}, account.ErrDisabled
	}
	acc, err := l.account(ctx, accID, pos)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	change, issued, err := l.Sessions.Start(ClaimsFor(acc), a.ID, amr, now)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	ev := events.LoginSucceeded{App: a.ID, AccountID: accID, Method: method, Rule: rule, SessionID: change.Aggregate.ID}
	// Two appends, not one: a multi-message append is a JetStream atomic
	// batch, which an R1 file stream stages on disk (~5 ms), and a
	// returning user's login is the hot path. The attempt goes first and
	// spends the code; a crash before the session is stored leaves a login
	// without a session, and no token was handed out.
	recs, err := l.Store.Append(ctx, meta, attemptChanges(attempts, a.ID, method, ev)...)
	if errors.Is(err, events.ErrConflict) {
		return Outcome{}, events.Position{}, login.ErrCodeUsed
	}
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	srecs, err := l.Store.Append(ctx, meta, change)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	return okOutcome(issued), pos.Max(events.PositionOf(recs)).Max(events.PositionOf(srecs)), nil
}

// pending issues a bind ticket for an identity no account has.
func (l *Login) pending(ctx context.Context, meta events.Meta, a projections.App, p events.ProvenIdentity, method string, attempts []string, now time.Time) (Outcome, events.Position, error) {
	status := login.StatusSocialBind
	methods := []string{"password", "otp"}
	if a.Kind == events.AppKindWeChat {
		methods = append([]string{"phone"}, methods...)
	}
	if a.OnNoMatch == app.OnNoMatchRegister {
		status = login.StatusUserRegister
		methods = append(methods, "register")
	}
	raw, hash := tokens.NewSessionToken(TicketPrefix)
	// The attempt (spending the code) first, then the ticket, as two
	// single-message appends (see resolve): a crash between them leaves a
	// spent code and no ticket, and the raw ticket was never handed out.
	recs, err := l.Store.Append(ctx, meta, attemptChanges(attempts, a.ID, method, events.LoginPendingBind{App: a.ID, Method: method, Status: status, Ticket: hash})...)
	if errors.Is(err, events.ErrConflict) {
		return Outcome{}, events.Position{}, login.ErrCodeUsed
	}
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	tevs, err := login.NewTicket(hash).Issue(status, p, now)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	trecs, err := l.Store.Append(ctx, meta, events.Change{Aggregate: ticketAgg(hash), Events: tevs})
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	recs = append(recs, trecs...)
	return Outcome{Status: status, BindTicket: raw, BindMethods: methods, ExpiresIn: int(login.TicketTTL.Seconds())}, events.PositionOf(recs), nil
}

// account reads the account view once it reflects pos. A claim may name
// an account that this replica's view has not applied yet (written a
// moment ago elsewhere), so a miss waits a little for the view.
func (l *Login) account(ctx context.Context, id string, pos events.Position) (projections.Account, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if l.Engine != nil && !pos.IsZero() {
		if err := l.Engine.WaitFor(ctx, pos); err != nil {
			return projections.Account{}, err
		}
	}
	for {
		if acc, ok := l.View.Get(id); ok {
			return acc, nil
		}
		if l.Engine == nil {
			return projections.Account{}, login.ErrAccountNotFound
		}
		changed, done := l.Engine.Changed()
		if acc, ok := l.View.Get(id); ok {
			done()
			return acc, nil
		}
		select {
		case <-changed:
			done()
		case <-ctx.Done():
			done()
			return projections.Account{}, projections.ErrNotReached
		}
	}
}

// ticketID checks a raw bind ticket's shape and returns its hash (the
// ticket aggregate's id).
func ticketID(raw string) (string, error) {
	rest, ok := strings.CutPrefix(raw, TicketPrefix+".")
	if !ok || len(rest) != 43 {
		return "", domain.Invalid("bind_ticket: not a bind ticket")
	}
	if b, err := base64.RawURLEncoding.DecodeString(rest); err != nil || len(b) != 32 {
		return "", domain.Invalid("bind_ticket: not a bind ticket")
	}
	return tokens.HashToken(raw), nil
}

func ticketAgg(id string) events.Aggregate {
	return events.Aggregate{Type: TicketAggregate, ID: id}
}

// openTicket loads a usable ticket.
func (l *Login) openTicket(ctx context.Context, raw string) (string, *login.Ticket, error) {
	l.init()
	id, err := ticketID(raw)
	if err != nil {
		return "", nil, err
	}
	recs, err := l.Store.Load(ctx, ticketAgg(id), 0)
	if err != nil {
		return "", nil, err
	}
	t := login.NewTicket(id)
	events.Loaded{Records: recs}.Fold(t)
	if err := t.Check(l.Now()); err != nil {
		return "", nil, err
	}
	return id, t, nil
}

// ticketFail records a failed bind attempt on the ticket.
func (l *Login) ticketFail(ctx context.Context, meta events.Meta, id, method, reason string) {
	_, err := events.Transact(ctx, l.Store, meta, []events.Aggregate{ticketAgg(id)}, func(ls []events.Loaded) ([]events.Change, error) {
		t := login.NewTicket(id)
		ls[0].Fold(t)
		evs, err := t.Fail(method, reason, l.Now())
		if err != nil {
			return nil, nil // a ticket that cannot be used records nothing
		}
		return []events.Change{ls[0].Change(evs...)}, nil
	})
	if err != nil {
		l.Log.Warn("recording a failed bind attempt", "err", err)
	}
}

// --- binding --------------------------------------------------------------

// BindPassword binds the ticket's identity to the account of username,
// proven by its password (argon2id). At most MaxPasswordFailures failures
// per account per hour are processed, counted in the store.
func (l *Login) BindPassword(ctx context.Context, meta events.Meta, rawTicket, username, pw string) (Outcome, events.Position, error) {
	meta = l.stamp(meta)
	id, t, err := l.openTicket(ctx, rawTicket)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	appID := t.Identity().App
	a, err := l.Apps.Get(ctx, appID)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if verifying(a) {
		return l.bindVerified(ctx, meta, id, t, a, username, pw)
	}
	user, uerr := account.NormalizeUsername(username)
	if uerr != nil || user == "" || pw == "" || len(pw) > password.MaxLength {
		l.ticketFail(ctx, meta, id, login.MethodBindPassword, "invalid_credentials")
		return Outcome{}, events.Position{}, login.ErrBadCredentials
	}
	accID, err := l.Store.Owner(ctx, events.ClaimUsername, strings.ToLower(user))
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	var sealed string
	if accID != "" {
		// Fresh: the password may have changed on another replica.
		st, _, err := l.Accounts.Repo.Refresh(ctx, accID)
		if err != nil {
			return Outcome{}, events.Position{}, err
		}
		sealed = st.PasswordSealed()
	}
	if sealed == "" {
		// Spend the time a real check takes, so that timing does not tell
		// which usernames exist.
		_, _ = password.Verify(pw, l.dummy)
		l.ticketFail(ctx, meta, id, login.MethodBindPassword, "invalid_credentials")
		return Outcome{}, events.Position{}, login.ErrBadCredentials
	}
	ok := false
	_, _, err = l.guards.Update(ctx, login.GuardID(accID), meta, func(g *login.PasswordGuard) (events.Decision, error) {
		if err := g.Check(l.Now()); err != nil {
			return events.Decision{}, err
		}
		ok = l.passwordMatches(pw, sealed)
		if ok {
			return events.Decision{}, nil
		}
		return events.Decision{Events: g.Fail(appID, accID, login.MethodBindPassword)}, nil
	})
	if err != nil {
		return Outcome{}, events.Position{}, translate(err)
	}
	if !ok {
		l.ticketFail(ctx, meta, id, login.MethodBindPassword, "wrong_password")
		return Outcome{}, events.Position{}, login.ErrBadCredentials
	}
	return l.bindAndFinish(ctx, meta, id, t, accID, login.MethodBindPassword, amr(a.Kind, "pwd"))
}

func (l *Login) passwordMatches(pw, sealed string) bool {
	hash, err := l.Accounts.Box.Open(sealed, PasswordAAD)
	if err != nil {
		l.Log.Error("opening a password hash", "err", err)
		return false
	}
	ok, err := password.Verify(pw, string(hash))
	return err == nil && ok
}

func (l *Login) appKind(ctx context.Context, id string) string {
	if a, err := l.Apps.Get(ctx, id); err == nil {
		return a.Kind
	}
	return events.AppKindWeChat
}

// BindPhone binds the ticket's identity to the account of the phone number
// WeChat vouches for (a getPhoneNumber code); with a USER_REGISTER ticket
// and nobody on that number, it registers a new account.
func (l *Login) BindPhone(ctx context.Context, meta events.Meta, rawTicket, phoneCode string) (Outcome, events.Position, error) {
	meta = l.stamp(meta)
	id, t, err := l.openTicket(ctx, rawTicket)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	a, err := l.Apps.Get(ctx, t.Identity().App)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if a.Kind != events.AppKindWeChat {
		return Outcome{}, events.Position{}, login.ErrWrongKind
	}
	if err := checkCode(phoneCode); err != nil {
		l.ticketFail(ctx, meta, id, login.MethodBindPhone, codeOf(err))
		return Outcome{}, events.Position{}, err
	}
	phone, err := l.phoneNumber(ctx, a, phoneCode)
	if err != nil {
		if c := codeOf(err); c == login.ErrInvalidCode.Code || c == login.ErrCodeUsed.Code {
			l.ticketFail(ctx, meta, id, login.MethodBindPhone, c)
		}
		return Outcome{}, events.Position{}, err
	}
	return l.bindContact(ctx, meta, id, t, events.ClaimPhone, phone, login.MethodBindPhone, amr(a.Kind, "phone"))
}

// bindContact binds to the account that holds a proven phone or e-mail, or
// registers one (USER_REGISTER tickets), or answers account_not_found.
func (l *Login) bindContact(ctx context.Context, meta events.Meta, id string, t *login.Ticket, kind, value, method string, amr []string) (Outcome, events.Position, error) {
	accID, err := l.Store.Owner(ctx, kind, value)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if accID != "" {
		return l.bindAndFinish(ctx, meta, id, t, accID, method, amr)
	}
	if t.Status() != login.StatusUserRegister {
		return Outcome{}, events.Position{}, login.ErrAccountNotFound
	}
	p := t.Identity()
	if kind == events.ClaimPhone {
		p.Phone = value
	} else {
		p.Email = value
	}
	return l.register(ctx, meta, id, t, login.Profile(p, "", ""), method, amr)
}

// Register creates an account from a USER_REGISTER ticket and a profile.
func (l *Login) Register(ctx context.Context, meta events.Meta, rawTicket, displayName, avatarURL string) (Outcome, events.Position, error) {
	meta = l.stamp(meta)
	id, t, err := l.openTicket(ctx, rawTicket)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if t.Status() != login.StatusUserRegister {
		return Outcome{}, events.Position{}, login.ErrRegisterClosed
	}
	displayName = strings.TrimSpace(displayName)
	if displayName == "" {
		return Outcome{}, events.Position{}, domain.Invalid("display_name: required")
	}
	kind := l.appKind(ctx, t.Identity().App)
	return l.register(ctx, meta, id, t, login.Profile(t.Identity(), displayName, avatarURL), login.MethodRegister, amr(kind))
}

func (l *Login) register(ctx context.Context, meta events.Meta, id string, t *login.Ticket, p account.Profile, method string, amr []string) (Outcome, events.Position, error) {
	p, err := p.Normalize()
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	accID := l.Accounts.NewID()
	pos, _, err := l.Accounts.Repo.Update(ctx, accID, meta, func(a *account.Account) (events.Decision, error) {
		evs, err := a.Register(p, login.Identities(t.Identity()), t.Identity().App, method)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return Outcome{}, events.Position{}, translate(err)
	}
	return l.finishTicket(ctx, meta, id, accID, method, amr, pos)
}

// bindAndFinish attaches the ticket's identities to the account (claimed
// atomically: a race to bind one identity to two accounts has one winner),
// then spends the ticket and starts a session.
func (l *Login) bindAndFinish(ctx context.Context, meta events.Meta, id string, t *login.Ticket, accID, method string, amr []string) (Outcome, events.Position, error) {
	// "Bound already" appends nothing, so it must not rest on a cache
	// that another replica's unbind outdated.
	if _, _, err := l.Accounts.Repo.Refresh(ctx, accID); err != nil {
		return Outcome{}, events.Position{}, err
	}
	pos, _, err := l.Accounts.Repo.Update(ctx, accID, meta, func(a *account.Account) (events.Decision, error) {
		evs, err := a.Bind(login.Identities(t.Identity()), method)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return Outcome{}, events.Position{}, translate(err)
	}
	return l.finishTicket(ctx, meta, id, accID, method, amr, pos)
}

// finishTicket spends the ticket and starts the session in one append.
func (l *Login) finishTicket(ctx context.Context, meta events.Meta, id, accID, method string, amr []string, pos events.Position) (Outcome, events.Position, error) {
	acc, err := l.account(ctx, accID, pos)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if acc.Status == account.StatusDisabled {
		return Outcome{}, events.Position{}, account.ErrDisabled
	}
	var issued Issued
	p2, err := events.Transact(ctx, l.Store, meta, []events.Aggregate{ticketAgg(id)}, func(ls []events.Loaded) ([]events.Change, error) {
		t := login.NewTicket(id)
		ls[0].Fold(t)
		now := l.Now()
		if err := t.Check(now); err != nil {
			return nil, err
		}
		change, is, err := l.Sessions.Start(ClaimsFor(acc), t.Identity().App, amr, now)
		if err != nil {
			return nil, err
		}
		evs, err := t.Use(accID, method, change.Aggregate.ID, now)
		issued = is
		return []events.Change{ls[0].Change(evs...), change}, err
	})
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	return okOutcome(issued), pos.Max(p2), nil
}

// --- one-time codes -----------------------------------------------------

// contactHash keys the otp aggregate of an address.
func contactHash(channel, to string) string { return hashHex(channel, to) }

func (l *Login) otpHash(ticket, toHash, code string) string {
	m := hmac.New(sha256.New, l.OTPKey)
	m.Write([]byte(ticket + "\x00" + toHash + "\x00" + code))
	return hex.EncodeToString(m.Sum(nil))
}

// normalizeContact checks an address for its channel ("" = by its shape).
func normalizeContact(channel, to string) (string, string, error) {
	if channel == "" {
		channel = otpsend.SMS
		if strings.Contains(to, "@") {
			channel = otpsend.Email
		}
	}
	var err error
	switch channel {
	case otpsend.SMS:
		to, err = account.NormalizePhone(to)
	case otpsend.Email:
		to, err = account.NormalizeEmail(to)
	default:
		return "", "", domain.Invalid("channel: sms or email")
	}
	if err != nil {
		return "", "", domain.Invalid("to: not a valid %s address", map[string]string{otpsend.SMS: "phone (E.164)", otpsend.Email: "e-mail"}[channel])
	}
	if to == "" {
		return "", "", domain.Invalid("to: required")
	}
	return channel, to, nil
}

func newOTP() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000)) // crypto/rand never fails
	return fmt.Sprintf("%06d", n.Int64())
}

// SendOTP sends a one-time code for the ticket to a phone (sms) or e-mail
// address; it answers how long the code lives. At most one send per 60 s
// and five an hour, per ticket and per address.
func (l *Login) SendOTP(ctx context.Context, meta events.Meta, rawTicket, channel, to string) (int, events.Position, error) {
	meta = l.stamp(meta) // stamp runs init
	id, err := ticketID(rawTicket)
	if err != nil {
		return 0, events.Position{}, err
	}
	if channel == "" {
		return 0, events.Position{}, domain.Invalid("channel: sms or email")
	}
	channel, to, err = normalizeContact(channel, to)
	if err != nil {
		return 0, events.Position{}, err
	}
	if l.Sender == nil || !l.Sender.Supports(channel) {
		return 0, events.Position{}, login.ErrOTPUndeliverable
	}
	toHash := contactHash(channel, to)
	code := newOTP()
	codeHash := l.otpHash(id, toHash, code)
	var appID string
	pos, err := events.Transact(ctx, l.Store, meta, []events.Aggregate{ticketAgg(id), {Type: OTPAggregate, ID: toHash}}, func(ls []events.Loaded) ([]events.Change, error) {
		t, o := login.NewTicket(id), login.NewOTP(toHash)
		ls[0].Fold(t)
		ls[1].Fold(o)
		now := l.Now()
		tevs, err := t.RequestOTP(channel, toHash, now)
		if err != nil {
			return nil, err
		}
		appID = t.Identity().App
		oevs, err := o.Send(appID, login.Contact{Channel: channel, Address: to}, id, codeHash, now)
		if err != nil {
			return nil, err
		}
		return []events.Change{ls[0].Change(tevs...), ls[1].Change(oevs...)}, nil
	})
	if err != nil {
		return 0, events.Position{}, err
	}
	ttl := int(login.OTPTTL.Seconds())
	if err := l.Sender.Send(ctx, otpsend.Message{Channel: channel, To: to, Code: code, App: appID, ExpiresIn: ttl}); err != nil {
		l.Log.Warn("one-time code not delivered", "app", appID, "channel", channel, "err", err)
		return 0, pos, login.ErrUpstreamDown
	}
	return ttl, pos, nil
}

// VerifyOTP checks the ticket's code for an address; right, it binds to
// (or registers) the account of that address. Five wrong entries use the
// code up; each also counts against the ticket.
func (l *Login) VerifyOTP(ctx context.Context, meta events.Meta, rawTicket, to, otp string) (Outcome, events.Position, error) {
	meta = l.stamp(meta) // stamp runs init
	id, err := ticketID(rawTicket)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if len(otp) != login.OTPDigits || strings.Trim(otp, "0123456789") != "" {
		return Outcome{}, events.Position{}, domain.Invalid("otp: %d digits", login.OTPDigits)
	}
	channel, to, err := normalizeContact("", to)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	toHash := contactHash(channel, to)
	codeHash := l.otpHash(id, toHash, otp)
	var result error
	var t *login.Ticket
	pos, err := events.Transact(ctx, l.Store, meta, []events.Aggregate{ticketAgg(id), {Type: OTPAggregate, ID: toHash}}, func(ls []events.Loaded) ([]events.Change, error) {
		result = nil
		t = login.NewTicket(id)
		o := login.NewOTP(toHash)
		ls[0].Fold(t)
		ls[1].Fold(o)
		now := l.Now()
		if err := t.Check(now); err != nil {
			return nil, err
		}
		evs, err := o.Verify(id, codeHash, now)
		switch {
		case errors.Is(err, login.ErrInvalidOTP):
			// A wrong code: recorded on the code and the ticket, then answered.
			result = err
			tevs, terr := t.Fail(login.MethodBindOTP, login.ErrInvalidOTP.Code, now)
			if terr != nil {
				return nil, terr
			}
			return []events.Change{ls[1].Change(evs...), ls[0].Change(tevs...)}, nil
		case err != nil:
			return nil, err
		}
		return []events.Change{ls[1].Change(evs...)}, nil
	})
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if result != nil {
		return Outcome{}, pos, result
	}
	kind := events.ClaimPhone
	proof := "sms"
	if channel == otpsend.Email {
		kind, proof = events.ClaimEmail, "otp"
	}
	out, p2, err := l.bindContact(ctx, meta, id, t, kind, to, login.MethodBindOTP, amr(l.appKind(ctx, t.Identity().App), proof))
	return out, pos.Max(p2), err
}
