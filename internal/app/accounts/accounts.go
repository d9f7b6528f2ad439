// Package accounts holds the admin commands on accounts: create, update,
// disable, enable, unbind and erase.
package accounts

import (
	"github.com/google/uuid"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/password"
	"github.com/bindery/bindery/internal/crypto/secrets"
)

// PasswordAAD binds sealed password hashes to their purpose.
const PasswordAAD = "password-hash"

// Service handles account commands.
type Service struct {
	Repo   *events.Repository[*account.Account]
	Box    *secrets.Box
	Hasher func(string) (string, error) // password.Hash unless a test swaps it
	NewID  func() string
	// Shredder finishes erasures (erase.go); nil in tests without data
	// keys.
	Shredder Shredder
}

// New wires the account commands to a store.
func New(store events.Store, box *secrets.Box) *Service {
	usecase.Require("accounts.New", "store", store, "box", box)
	return &Service{
		Repo:   events.NewRepository(store, events.AggregateAccount, account.New, 50000),
		Box:    box,
		Hasher: password.Hash,
		NewID:  uuid.NewString,
	}
}

func (s *Service) sealPassword(pw string) (string, error) {
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
