package authz

import (
	"context"

	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
)

// DefineRole creates a role or replaces its permissions. created is true
// for a new role; perms are the role's permissions as stored (canonical,
// sorted). Defining a role as it is appends nothing (zero position).
func (s *Service) DefineRole(ctx context.Context, meta events.Meta, name string, perms []string) (created bool, stored []string, pos events.Position, err error) {
	if err := role.ValidateName(name); err != nil {
		return false, nil, pos, err
	}
	norm, err := role.NormalizePermissions(perms)
	if err != nil {
		return false, nil, pos, err
	}
	if err := fresh(ctx, s.Roles, events.RoleAggregateID(name)); err != nil {
		return false, nil, pos, err
	}
	pos, _, err = s.Roles.Update(ctx, events.RoleAggregateID(name), meta, func(r *role.Role) (events.Decision, error) {
		created = !r.Defined()
		evs, err := r.Define(norm)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return false, nil, events.Position{}, usecase.Translate(err)
	}
	return created, norm, pos, nil
}
