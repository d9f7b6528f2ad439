// Package service holds Bindery's login use cases: mini-program, host,
// phone and one-time-code logins, and the binds and registrations that
// finish a pending one.
package service

import (
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/apps"
	"github.com/bindery/bindery/internal/app/authz"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/projections"
)

// The use cases login builds on; each lives in its own package now.
type (
	// Accounts is the account commands (accounts.Service).
	Accounts = accounts.Service
	// Apps finds apps and opens their secrets (apps.Service).
	Apps = apps.Service
	// Authz applies the roles and orgs a verify source answers (authz.Service).
	Authz = authz.Service
	// Sessions starts the session a login hands out (sessions.Service).
	Sessions = sessions.Service
	// Issued is what a login hands out (sessions.Issued).
	Issued = sessions.Issued
)

// PasswordAAD binds sealed password hashes to their purpose.
const PasswordAAD = accounts.PasswordAAD

// ClaimsFor builds id_token claims from the account read model.
func ClaimsFor(acc projections.Account) sessions.IDClaims { return sessions.ClaimsFor(acc) }

func translate(err error) error { return usecase.Translate(err) }
