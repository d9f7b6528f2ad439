package login

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/tokens"
)

// Bind tickets are short-lived auth-log aggregates that several replicas
// write, so they are read fresh from the store every time (never cached)
// and changed through events.Transact.

func ticketAgg(id string) events.Aggregate {
	return events.Aggregate{Type: events.AggregateTicket, ID: id}
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

// openTicket loads a usable ticket.
func (c *core) openTicket(ctx context.Context, raw string) (string, *dlogin.Ticket, error) {
	id, err := ticketID(raw)
	if err != nil {
		return "", nil, err
	}
	recs, err := c.Store.Load(ctx, ticketAgg(id), 0)
	if err != nil {
		return "", nil, err
	}
	t := dlogin.NewTicket(id)
	events.Loaded{Records: recs}.Fold(t)
	if err := t.Check(c.Now()); err != nil {
		return "", nil, err
	}
	return id, t, nil
}

// ticketFail records a failed bind attempt on the ticket, best effort.
func (c *core) ticketFail(ctx context.Context, meta events.Meta, id, method, reason string) {
	_, err := events.Transact(ctx, c.Store, meta, []events.Aggregate{ticketAgg(id)}, func(ls []events.Loaded) ([]events.Change, error) {
		t := dlogin.NewTicket(id)
		ls[0].Fold(t)
		evs, err := t.Fail(method, reason, c.Now())
		if err != nil {
			return nil, nil // a ticket that cannot be used records nothing
		}
		return []events.Change{ls[0].Change(evs...)}, nil
	})
	if err != nil {
		c.Log.Warn("recording a failed bind attempt", "err", err)
	}
}

// bindContact binds to the account that holds a proven phone or e-mail, or
// registers one (USER_REGISTER tickets), or answers account_not_found.
func (c *core) bindContact(ctx context.Context, meta events.Meta, id string, t *dlogin.Ticket, kind, value, method string, amr []string) (Outcome, events.Position, error) {
	accID, err := c.Store.Owner(ctx, kind, value)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if accID != "" {
		return c.bindAndFinish(ctx, meta, id, t, accID, method, amr)
	}
	if t.Status() != dlogin.StatusUserRegister {
		return Outcome{}, events.Position{}, dlogin.ErrAccountNotFound
	}
	p := t.Identity()
	if kind == events.ClaimPhone {
		p.Phone = value
	} else {
		p.Email = value
	}
	return c.register(ctx, meta, id, t, dlogin.Profile(p, "", ""), method, amr)
}

// register creates the account of a USER_REGISTER ticket, then finishes
// the ticket.
func (c *core) register(ctx context.Context, meta events.Meta, id string, t *dlogin.Ticket, p account.Profile, method string, amr []string) (Outcome, events.Position, error) {
	p, err := p.Normalize()
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	accID := c.Accounts.NewID()
	pos, _, err := c.Accounts.Repo.Update(ctx, accID, meta, func(a *account.Account) (events.Decision, error) {
		evs, err := a.Register(p, dlogin.Identities(t.Identity()), t.Identity().App, method)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return Outcome{}, events.Position{}, usecase.Translate(err)
	}
	return c.finishTicket(ctx, meta, id, accID, method, amr, pos)
}

// bindAndFinish attaches the ticket's identities to the account (claimed
// atomically: a race to bind one identity to two accounts has one winner),
// then spends the ticket and starts a session. The account decides on
// fresh state: a disabled one refuses the bind.
func (c *core) bindAndFinish(ctx context.Context, meta events.Meta, id string, t *dlogin.Ticket, accID, method string, amr []string) (Outcome, events.Position, error) {
	// "Bound already" appends nothing, so it must not rest on a cache
	// that another replica's unbind outdated.
	if _, _, err := c.Accounts.Repo.Refresh(ctx, accID); err != nil {
		return Outcome{}, events.Position{}, err
	}
	pos, _, err := c.Accounts.Repo.Update(ctx, accID, meta, func(a *account.Account) (events.Decision, error) {
		evs, err := a.Bind(dlogin.Identities(t.Identity()), method)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return Outcome{}, events.Position{}, usecase.Translate(err)
	}
	return c.finishTicket(ctx, meta, id, accID, method, amr, pos)
}

// finishTicket spends the ticket and starts the session in one append.
func (c *core) finishTicket(ctx context.Context, meta events.Meta, id, accID, method string, amr []string, pos events.Position) (Outcome, events.Position, error) {
	acc, err := c.account(ctx, accID, pos)
	if err != nil {
		return Outcome{}, events.Position{}, err
	}
	if err := account.Blocked(acc.Status); err != nil {
		return Outcome{}, events.Position{}, err
	}
	var issued sessions.Issued
	p2, err := events.Transact(ctx, c.Store, meta, []events.Aggregate{ticketAgg(id)}, func(ls []events.Loaded) ([]events.Change, error) {
		t := dlogin.NewTicket(id)
		ls[0].Fold(t)
		now := c.Now()
		if err := t.Check(now); err != nil {
			return nil, err
		}
		change, is, err := c.Sessions.Start(sessions.ClaimsFor(acc), t.Identity().App, amr, now)
		if err != nil {
			return nil, err
		}
		evs, err := t.Use(accID, method, change.Aggregate.ID, now)
		issued = is
		return []events.Change{ls[0].Change(evs...), change}, err
	})
	if err != nil {
		return Outcome{}, events.Position{}, usecase.Translate(err)
	}
	return okOutcome(issued), pos.Max(p2), nil
}

// appKind is the kind of the ticket's app (wechat when it is gone).
func (c *core) appKind(ctx context.Context, id string) string {
	if a, err := c.Apps.Get(ctx, id); err == nil {
		return a.Kind
	}
	return events.AppKindWeChat
}
