package events

import "strings"

// RoleAggregateID is the aggregate id of a role: its name with every "." written
// as "~", because a NATS subject token cannot hold a dot. Role names never
// contain "~", so the mapping is one to one.
func RoleAggregateID(name string) string { return strings.ReplaceAll(name, ".", "~") }

// RoleName reverses RoleAggregateID.
func RoleName(aggregateID string) string { return strings.ReplaceAll(aggregateID, "~", ".") }

// RoleDefined: a role was created or its permissions replaced (aggregate
// role/<name>). Permissions is the whole, sorted set after the change.
type RoleDefined struct {
	Role        string   `json:"role"`
	Permissions []string `json:"permissions"`
}

func (RoleDefined) EventName() string { return "role_defined" }

// RoleGranted: an account was given a role (aggregate account/<id>). Org
// scopes the grant to one organisation and its descendants; "" means the
// grant applies everywhere.
type RoleGranted struct {
	AccountID string `json:"account_id"`
	Role      string `json:"role"`
	Org       string `json:"org,omitempty"`
}

func (RoleGranted) EventName() string { return "role_granted" }

// RoleRevoked: a grant made by RoleGranted (same role and org) was taken back.
type RoleRevoked struct {
	AccountID string `json:"account_id"`
	Role      string `json:"role"`
	Org       string `json:"org,omitempty"`
}

func (RoleRevoked) EventName() string { return "role_revoked" }
