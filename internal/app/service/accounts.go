package service

import (
	"context"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/password"
	"github.com/bindery/bindery/internal/crypto/secrets"
)

// PasswordAAD binds sealed password hashes to their purpose.
const PasswordAAD = "password-hash"

// Accounts handles account commands.
type Accounts struct {
	Repo   *events.Repository[*account.Account]
	Box    *secrets.Box
	Hasher func(string) (string, error) // password.Hash unless a test swaps it
	NewID  func() string
}

// NewAccounts wires the account commands to a store.
func NewAccounts(store events.Store, box *secrets.Box) *Accounts {
	return &Accounts{
		Repo:   events.NewRepository(store, events.AggregateAccount, account.New, 50000),
		Box:    box,
		Hasher: password.Hash,
		NewID:  uuid.NewString,
	}
}

// CreateAccount is the admin create command.
type CreateAccount struct {
	Profile  account.Profile
	Password string
	Source   string
}

// Create makes a new account; its unique values are claimed atomically.
func (s *Accounts) Create(ctx context.Context, meta events.Meta, in CreateAccount) (string, events.Position, error) {
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
	return id, pos, translate(err)
}

func (s *Accounts) sealPassword(pw string) (string, error) {
	if pw == "" {
		return "", nil
	}
	if err := password.Validate(pw); err != nil {
		return "", domain.Invalid("password: %s", err.Error())
	}
	hash, err := s.Hasher(pw)
	if err != nil {
		return "", err
	}
	return s.Box.Seal([]byte(hash), PasswordAAD)
}

// UpdateAccount is a partial update; nil fields stay.
type UpdateAccount struct {
	ExternalID, Username, DisplayName, AvatarURL, Phone, Email, Password, Status *string
	Attributes                                                                   map[string]any
}

// Update applies a partial update.
func (s *Accounts) Update(ctx context.Context, meta events.Meta, id string, in UpdateAccount) (events.Position, error) {
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
	return pos, translate(err)
}

// Disable disables an account (DELETE in the admin API: accounts are never
// erased, their history stays).
func (s *Accounts) Disable(ctx context.Context, meta events.Meta, id string) (events.Position, error) {
	pos, _, err := s.Repo.Update(ctx, id, meta, func(a *account.Account) (events.Decision, error) {
		evs, err := a.Disable("admin")
		return events.Decision{Events: evs}, err
	})
	return pos, translate(err)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
