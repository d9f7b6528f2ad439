package accounts

import (
	"context"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// Update is a partial update; nil fields stay.
type Update struct {
	ExternalID, Username, DisplayName, AvatarURL, Phone, Email, Password, Status *string
	Attributes                                                                   map[string]any
}

// Update applies a partial update.
func (s *Service) Update(ctx context.Context, meta events.Meta, id string, in Update) (events.Position, error) {
	patch := account.Patch{ExternalID: in.ExternalID, DisplayName: in.DisplayName, AvatarURL: in.AvatarURL, Attributes: in.Attributes, Status: in.Status}
	norm := func(v *string, f func(string) (string, error)) (*string, error) {
		if v == nil {
			return nil, nil
		}
		n, err := f(*v)
		return &n, err
	}
	var err error
	if patch.Username, err = norm(in.Username, account.NormalizeUsername); err != nil {
		return events.Position{}, err
	}
	if patch.Phone, err = norm(in.Phone, account.NormalizePhone); err != nil {
		return events.Position{}, err
	}
	if patch.Email, err = norm(in.Email, account.NormalizeEmail); err != nil {
		return events.Position{}, err
	}
	check := account.Profile{DisplayName: deref(in.DisplayName), AvatarURL: deref(in.AvatarURL), ExternalID: deref(in.ExternalID), Attributes: in.Attributes}
	if _, err := check.Normalize(); err != nil {
		return events.Position{}, err
	}
	if in.Password != nil {
		sealed, err := s.sealPassword(*in.Password)
		if err != nil {
			return events.Position{}, err
		}
		patch.PasswordSealed = &sealed
	}
	pos, _, err := s.Repo.Update(ctx, id, meta, func(a *account.Account) (events.Decision, error) {
		evs, err := a.Update(patch, "admin")
		return events.Decision{Events: evs}, err
	})
	return pos, usecase.Translate(err)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
