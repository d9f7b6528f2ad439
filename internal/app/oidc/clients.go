// Package oidc holds the use cases behind Bindery's OpenID Provider: client
// registration, authorization requests bound to QR logins, codes and the
// tokens they are exchanged for. The OP library's storage adapter calls
// them; they load aggregates, let the domain decide and append its events.
package oidc

import (
	"context"
	"crypto/subtle"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/oidcclient"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/internal/crypto/secrets"
)

// ClientSecretAAD is the context a client secret is sealed under: the
// client_id follows it, so a sealed secret cannot be moved to another client.
const ClientSecretAAD = "oidc-client-secret:"

// Clients handles the commands of OIDC client registrations.
type Clients struct {
	Repo *events.Repository[*oidcclient.Client]
	Box  *secrets.Box
	// FindApp fails with app_not_found unless the mini-program app is
	// registered (nil: any).
	FindApp func(ctx context.Context, id string) error
}

// NewClients wires the commands to a store.
func NewClients(store events.Store, box *secrets.Box, findApp func(context.Context, string) error) *Clients {
	return &Clients{Repo: events.NewRepository(store, events.AggregateOIDCClient, oidcclient.New, 1000), Box: box, FindApp: findApp}
}

// PutClient registers or replaces a client. Secret nil keeps the current
// one (it is write-only).
type PutClient struct {
	Spec   oidcclient.Spec
	Secret *string
}

// Put registers the client (created = true) or updates it; the secret is
// sealed before it reaches an event.
func (s *Clients) Put(ctx context.Context, meta events.Meta, id string, in PutClient) (created bool, _ oidcclient.Spec, _ events.Position, _ error) {
	fail := func(err error) (bool, oidcclient.Spec, events.Position, error) {
		return false, oidcclient.Spec{}, events.Position{}, err
	}
	if !oidcclient.ValidID(id) {
		return fail(domain.Invalid("client_id: 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit"))
	}
	spec, err := in.Spec.Normalize()
	if err != nil {
		return fail(err)
	}
	if s.FindApp != nil {
		if err := s.FindApp(ctx, spec.App); err != nil {
			return fail(err)
		}
	}
	aad := ClientSecretAAD + id
	var sealed string
	if in.Secret != nil {
		if spec.Type == oidcclient.Public {
			return fail(oidcclient.ErrSecretNotAllowed)
		}
		if err := oidcclient.ValidateSecret(*in.Secret); err != nil {
			return fail(err)
		}
		if sealed, err = s.Box.Seal([]byte(*in.Secret), aad); err != nil {
			return fail(err)
		}
	}
	pos, _, err := s.Repo.Update(ctx, id, meta, func(c *oidcclient.Client) (events.Decision, error) {
		created = !c.Exists()
		newSealed := sealed
		if newSealed != "" && c.SecretSealed() != "" {
			// The same secret again is no change: keep PUT repeatable.
			if old, err := s.Box.Open(c.SecretSealed(), aad); err == nil && subtle.ConstantTimeCompare(old, []byte(*in.Secret)) == 1 {
				newSealed = ""
			}
		}
		evs, err := c.Put(spec, newSealed)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return fail(usecase.Translate(err))
	}
	return created, spec, pos, nil
}

// Delete removes the registration.
func (s *Clients) Delete(ctx context.Context, meta events.Meta, id string) (events.Position, error) {
	if !oidcclient.ValidID(id) {
		return events.Position{}, oidcclient.ErrNotFound
	}
	pos, _, err := s.Repo.Update(ctx, id, meta, func(c *oidcclient.Client) (events.Decision, error) {
		evs, err := c.Delete()
		return events.Decision{Events: evs}, err
	})
	return pos, usecase.Translate(err)
}

// CheckSecret reports whether secret is the confidential client's secret,
// in constant time; sealed is the client's sealed secret.
func (s *Clients) CheckSecret(id, sealed, secret string) bool {
	if sealed == "" || secret == "" {
		return false
	}
	plain, err := s.Box.Open(sealed, ClientSecretAAD+id)
	return err == nil && subtle.ConstantTimeCompare(plain, []byte(secret)) == 1
}
