package qr

import (
	"context"
	"errors"
	"time"

	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/events"
)

// Requester is the PC that asked, as the confirm screen shows it.
type Requester struct {
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	CreatedAt time.Time `json:"created_at"`
}

// Step is the answer to a mini-program user's scan, confirm or cancel.
type Step struct {
	State     string    `json:"state"`
	App       string    `json:"app"`
	ExpiresIn int       `json:"expires_in"`
	Requester Requester `json:"requester"`
	// Client is the web app asking, for a QR login that signs a browser
	// in through the OpenID Provider.
	Client *Client `json:"client,omitempty"`
}

// Client names the web app (OIDC client) a QR login signs in to.
type Client struct {
	ClientID string `json:"client_id"`
	Name     string `json:"name,omitempty"`
}

// step runs one user step on the aggregate. A step that finds the session
// expired stores qr_expired and answers qr_expired.
func (s *Service) step(ctx context.Context, meta events.Meta, id, accountID string, decide func(*qrlogin.QR, time.Time) ([]events.Event, error)) (Step, events.Position, error) {
	if !qrlogin.ValidID(id) {
		return Step{}, events.Position{}, qrlogin.ErrNotFound
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
		return Step{}, events.Position{}, err
	}
	if outcome != nil {
		return Step{}, pos, outcome
	}
	r := q.Requester()
	st := Step{
		State: string(q.StateAt(now)), App: q.App(), ExpiresIn: secondsLeft(q.ExpiresAt(), now),
		Requester: Requester{IP: r.IP, UserAgent: r.UserAgent, CreatedAt: r.CreatedAt},
	}
	if _, client := q.Authorization(); client != "" {
		st.Client = &Client{ClientID: client}
		if s.ClientName != nil {
			st.Client.Name = s.ClientName(client)
		}
	}
	return st, pos, nil
}
