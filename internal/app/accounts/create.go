package accounts

import (
	"context"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// Create is the admin create command.
type Create struct {
	Profile  account.Profile
	Password string
	Source   string
}

// Create makes a new account; its unique values are claimed atomically.
func (s *Service) Create(ctx context.Context, meta events.Meta, in Create) (string, events.Position, error) {
	p, err := in.Profile.Normalize()
	if err != nil {
		return "", events.Position{}, err
	}
	if p.Username == "" && p.Phone == "" && p.Email == "" && p.ExternalID == "" && p.DisplayName == "" {
		// An account nobody can find or recognise is a mistake, not a record.
		return "", events.Position{}, domain.Invalid("an account needs at least one of username, phone, email, external_id or display_name")
	}
	sealed, err := s.sealPassword(in.Password)
	if err != nil {
		return "", events.Position{}, err
	}
	id := s.NewID()
	pos, _, err := s.Repo.Update(ctx, id, meta, func(a *account.Account) (events.Decision, error) {
		evs, err := a.Create(p, sealed, in.Source)
		return events.Decision{Events: evs}, err
	})
	return id, pos, usecase.Translate(err)
}
