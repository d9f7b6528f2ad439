package server

import (
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/accountsync"
)

// openSync wires bulk account sync to the account commands (one repository
// and cache for both, so that a sync and the admin API see the same state).
func (a *App) openSync(accts *accounts.Service) *accountsync.Service {
	s := accountsync.New(accts, timedStore{a.Store, a.Metrics})
	s.Log = a.Log
	if a.Keys != nil {
		s.Keys = a.Keys
	}
	if a.clock != nil {
		s.Now = a.clock
	}
	return s
}
