package service

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/projections"
)

// Default lifetimes of the tokens a session hands out.
const (
	DefaultIDTokenTTL = 15 * time.Minute
	DefaultSessionTTL = 30 * 24 * time.Hour
)

// SessionAggregate is the aggregate type of session families (auth log).
const SessionAggregate = events.AggregateSession

// IDClaims are the profile claims put into an id_token.
type IDClaims struct {
	AccountID, Name, Username, Picture, Phone, Email string
	Roles                                            []string // role names (org-scoped grants as "role@org")
	Orgs                                             []string
}

// Issued is what a successful login or refresh hands out (JSON as the API
// answers it).
type Issued struct {
	AccountID    string `json:"account_id"`
	IDToken      string `json:"id_token"`
	SessionToken string `json:"session_token"`
	ExpiresIn    int    `json:"expires_in"` // seconds the id_token lives
	TokenType    string `json:"token_type"` // "Bearer"
}

// Sessions issues, refreshes and revokes session families: a login's chain
// of opaque session tokens, rotated on every refresh, each refresh also
// signing a fresh id_token with the account's current claims.
type Sessions struct {
	Store    events.Store
	Signer   *tokens.Signer
	Accounts *projections.Accounts // current claims on refresh
	// Gate decides on the account aggregate whether it may still act (a
	// refresh, a bearer id_token); nil trusts the view alone (tests).
	Gate       AccountGate
	IDTokenTTL time.Duration    // default 15 minutes
	SessionTTL time.Duration    // each session token's lifetime; default 30 days
	Now        func() time.Time // default time.Now

	// Repo holds the session families; NewSessions makes it (and it is made
	// on first use when the struct is built by hand).
	Repo *events.Repository[*session.Session]
	once sync.Once
}

// NewSessions returns the session commands over store, with the default
// lifetimes.
func NewSessions(store events.Store, signer *tokens.Signer, accounts *projections.Accounts) *Sessions {
	s := &Sessions{Store: store, Signer: signer, Accounts: accounts}
	s.init()
	return s
}

func (s *Sessions) init() {
	s.once.Do(func() {
		if s.Repo == nil {
			s.Repo = events.NewRepository(s.Store, SessionAggregate, session.New, 20000)
		}
	})
}

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sessions) idTTL() time.Duration {
	if s.IDTokenTTL > 0 {
		return s.IDTokenTTL
	}
	return DefaultIDTokenTTL
}

func (s *Sessions) sessionTTL() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return DefaultSessionTTL
}

// ClaimsFor builds IDClaims from the account read model.
func ClaimsFor(acc projections.Account) IDClaims {
	c := IDClaims{
		AccountID: acc.ID, Name: acc.DisplayName, Username: acc.Username, Picture: acc.AvatarURL,
		Phone: acc.Phone, Email: acc.Email,
	}
	for _, g := range acc.Roles {
		if g.Org != "" {
			c.Roles = append(c.Roles, g.Role+"@"+g.Org)
		} else {
			c.Roles = append(c.Roles, g.Role)
		}
	}
	if len(acc.Orgs) > 0 {
		c.Orgs = append([]string(nil), acc.Orgs...)
	}
	return c
}

// Start prepares a new session family for a login: the change to append (a
// new `session` aggregate, Expected 0) — the caller appends it atomically
// together with its own auth-log events in ONE store.Append — and the tokens
// to hand out only after that append succeeded.
func (s *Sessions) Start(c IDClaims, app string, amr []string, now time.Time) (events.Change, Issued, error) {
	if c.AccountID == "" || app == "" {
		return events.Change{}, Issued{}, errors.New("service: Sessions.Start needs an account id and an app")
	}
	id := uuid.NewString()
	tok, hash := tokens.NewSessionToken(id)
	evs, err := session.New(id).Issue(c.AccountID, app, amr, hash, now, s.sessionTTL())
	if err != nil {
		return events.Change{}, Issued{}, err
	}
	idt, err := s.sign(c, app, id, amr, now, now)
	if err != nil {
		return events.Change{}, Issued{}, err
	}
	return events.Change{Aggregate: events.Aggregate{Type: SessionAggregate, ID: id}, Events: evs},
		s.issued(c.AccountID, idt, tok), nil
}

func (s *Sessions) issued(accountID, idToken, sessionToken string) Issued {
	return Issued{
		AccountID: accountID, IDToken: idToken, SessionToken: sessionToken,
		ExpiresIn: int(s.idTTL().Seconds()), TokenType: "Bearer",
	}
}

// sign makes the id_token of a session family (sid) for app (aud).
func (s *Sessions) sign(c IDClaims, app, sid string, amr []string, authTime, now time.Time) (string, error) {
	claims := map[string]any{
		"iss":       s.Signer.Issuer(),
		"sub":       c.AccountID,
		"aud":       app,
		"iat":       now,
		"exp":       now.Add(s.idTTL()),
		"auth_time": authTime,
		"sid":       sid,
	}
	if len(amr) > 0 {
		claims["amr"] = amr
	}
	opt := func(name, v string) {
		if v != "" {
			claims[name] = v
		}
	}
	opt("name", c.Name)
	opt("preferred_username", c.Username)
	opt("picture", c.Picture)
	opt("phone_number", c.Phone)
	opt("email", c.Email)
	if len(c.Roles) > 0 {
		claims["roles"] = c.Roles
	}
	if len(c.Orgs) > 0 {
		claims["orgs"] = c.Orgs
	}
	return s.Signer.Sign(claims)
}

// sessionTokenLen is len(uuid) + "." + base64url(32 bytes).
const sessionTokenLen = 36 + 1 + 43

// parseToken returns the family id of a well-formed session token
// ("<family uuid>.<base64url of 32 random bytes>").
func parseToken(tok string) (string, bool) {
	if len(tok) != sessionTokenLen {
		return "", false
	}
	fam, secret, ok := strings.Cut(tok, ".")
	if !ok {
		return "", false
	}
	if u, err := uuid.Parse(fam); err != nil || u.String() != fam {
		return "", false
	}
	if b, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(b) != 32 {
		return "", false
	}
	return fam, true
}

// Refresh rotates a session token: it answers a new session token and a new
// id_token with the account's current claims. A token that was already
// rotated revokes the family (session_reused); a disabled account revokes
// it too (account_disabled); anything else unusable is invalid_session.
func (s *Sessions) Refresh(ctx context.Context, meta events.Meta, sessionToken string) (Issued, events.Position, error) {
	return s.RefreshFor(ctx, meta, sessionToken, "")
}

// RefreshFor is Refresh for an OAuth2 client: when clientID is not "" the
// family must have been issued for that app, else the token is
// invalid_session (and is not rotated).
func (s *Sessions) RefreshFor(ctx context.Context, meta events.Meta, sessionToken, clientID string) (Issued, events.Position, error) {
	s.init()
	fam, ok := parseToken(sessionToken)
	if !ok {
		return Issued{}, events.Position{}, session.ErrInvalid
	}
	hash := tokens.HashToken(sessionToken)
	now := s.now()
	var out Issued
	var outcome error
	pos, err := s.update(ctx, meta, fam, func(st *session.Session) (events.Decision, error) {
		out, outcome = Issued{}, nil
		switch err := st.Authenticate(hash, now); {
		case errors.Is(err, session.ErrReused):
			outcome = err
			return events.Decision{Events: st.DetectReuse(hash)}, nil
		case err != nil:
			return events.Decision{}, err
		}
		if clientID != "" && clientID != st.App() {
			return events.Decision{}, session.ErrInvalid
		}
		acc, ok := s.Accounts.Get(st.AccountID())
		if !ok {
			return events.Decision{}, session.ErrInvalid
		}
		disabled := acc.Status == account.StatusDisabled
		if s.Gate != nil && !disabled {
			// Decided on the account aggregate: this replica's view may
			// lag a disable made on another.
			switch err := s.Gate.CanAct(ctx, st.AccountID()); {
			case errors.Is(err, account.ErrDisabled):
				disabled = true
			case err != nil:
				return events.Decision{}, err
			}
		}
		if disabled {
			outcome = account.ErrDisabled
			return events.Decision{Events: st.Revoke(events.RevokeAccountDisabled)}, nil
		}
		tok, next := tokens.NewSessionToken(st.ID())
		idt, err := s.sign(ClaimsFor(acc), st.App(), st.ID(), st.AMR(), st.AuthTime(), now)
		if err != nil {
			return events.Decision{}, err
		}
		out = s.issued(acc.ID, idt, tok)
		return events.Decision{Events: st.Rotate(next, now, s.sessionTTL())}, nil
	})
	if err != nil {
		return Issued{}, events.Position{}, err
	}
	if outcome != nil {
		return Issued{}, pos, outcome
	}
	return out, pos, nil
}

// Revoke ends the session family of a token (logout). It is idempotent: a
// family already revoked or expired answers success. A rotated token
// presented here is reuse, as with Refresh.
func (s *Sessions) Revoke(ctx context.Context, meta events.Meta, sessionToken string) (events.Position, error) {
	s.init()
	fam, ok := parseToken(sessionToken)
	if !ok {
		return events.Position{}, session.ErrInvalid
	}
	hash := tokens.HashToken(sessionToken)
	now := s.now()
	var outcome error
	pos, err := s.update(ctx, meta, fam, func(st *session.Session) (events.Decision, error) {
		outcome = nil
		evs, err := st.Logout(hash, now)
		if errors.Is(err, session.ErrReused) {
			outcome = err
			return events.Decision{Events: evs}, nil
		}
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return events.Position{}, err
	}
	return pos, outcome
}

// update runs decide on the family, attributing the events to its account.
// A cached state may predate a rotation or an issue made by another
// replica, and a decision that finds the token unknown appends nothing (so
// optimistic concurrency cannot catch that): such a verdict is checked once
// more on what the store holds before it is final.
func (s *Sessions) update(ctx context.Context, meta events.Meta, id string, decide func(*session.Session) (events.Decision, error)) (events.Position, error) {
	if meta.Actor == "" {
		if st, _, err := s.Repo.Get(ctx, id); err == nil && st.Exists() {
			meta.Actor = st.AccountID()
		} else {
			meta.Actor = "anonymous"
		}
	}
	if meta.Time.IsZero() {
		meta.Time = s.now()
	}
	pos, _, err := s.Repo.Update(ctx, id, meta, decide)
	if errors.Is(err, session.ErrInvalid) {
		s.Repo.Forget(id)
		pos, _, err = s.Repo.Update(ctx, id, meta, decide)
	}
	return pos, translate(err)
}
