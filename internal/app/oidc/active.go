package oidc

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/bindery/bindery/domain/authorization"
)

// requestOf is the authorization id an access token's jti names.
func requestOf(jti string) string {
	id, _, _ := strings.Cut(jti, ".")
	return id
}

// ActiveToken answers the request of a web app's access token (jti, of
// subject) when the token still counts, decided on the aggregates as the
// store holds them now, so that a revocation on any replica holds on every
// replica at once: its request's code was exchanged once and not reused,
// the token was not revoked, its family of refresh tokens (if any) is not
// revoked, and its account may act. Anything else is
// authorization.ErrTokenInactive (or the account's refusal).
//
// The three aggregates are read at once, each fresh: the family is named
// by the request's one exchange, which a cached request already knows, so
// the reads need not wait for each other and share the store's round trips
// (a read answers once a sync of the store began after it, group commit).
func (s *Authorizations) ActiveToken(ctx context.Context, jti, subject string) (*authorization.Authorization, error) {
	id := requestOf(jti)
	known, err := s.Get(ctx, id) // the cache (or a first read): which family
	if errors.Is(err, authorization.ErrNotFound) {
		return nil, authorization.ErrTokenInactive
	}
	if err != nil {
		return nil, err
	}
	var (
		a                *authorization.Authorization
		errA, errF, errG error
		wg               sync.WaitGroup
	)
	family := known.FamilyID()
	wg.Go(func() { a, errA = s.fresh(ctx, id) })
	if family != "" && s.Sessions != nil {
		wg.Go(func() { errF = s.Sessions.FamilyLive(ctx, family) })
	}
	if s.Gate != nil {
		wg.Go(func() { errG = s.Gate.CanAct(ctx, subject) })
	}
	wg.Wait()
	if errors.Is(errA, authorization.ErrNotFound) {
		return nil, authorization.ErrTokenInactive
	}
	if errA != nil {
		return nil, errA
	}
	if err := a.AccessTokenActive(jti); err != nil || a.Grant().AccountID != subject {
		return nil, authorization.ErrTokenInactive
	}
	if fam := a.FamilyID(); fam != family && s.Sessions != nil {
		// The cached request predated its exchange: its family now.
		errF = nil
		if fam != "" {
			errF = s.Sessions.FamilyLive(ctx, fam)
		}
	}
	if errF != nil {
		return nil, authorization.ErrTokenInactive
	}
	if errG != nil {
		return nil, errG
	}
	return a, nil
}

// fresh loads request id as the store holds it now.
func (s *Authorizations) fresh(ctx context.Context, id string) (*authorization.Authorization, error) {
	if uuid.Validate(id) != nil {
		return nil, authorization.ErrNotFound
	}
	a, _, err := s.Repo.Refresh(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Exists() {
		s.Repo.Forget(id) // ids come from tokens: do not cache unknown ones
		return nil, authorization.ErrNotFound
	}
	return a, nil
}
