package authz

import "github.com/bindery/bindery/domain"

// AdminPermission is what an account must hold to run Bindery: the admin
// API with its access token, and the console.
const AdminPermission = "bindery:admin"

// ErrNotAdmin: the account behind an access token does not hold
// AdminPermission.
var ErrNotAdmin = domain.New(domain.KindForbidden, "admin_permission_required",
	"this account does not hold the permission "+AdminPermission+"; an administrator can grant it a role that has it")
