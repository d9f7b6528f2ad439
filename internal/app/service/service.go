// Package service holds Bindery's command handlers: each loads an aggregate
// through its repository, asks the domain to decide, and appends the events.
package service

import (
	"errors"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Clock and IDs are injected so that tests decide time and identity.
type Clock func() time.Time

// translate turns store errors into domain errors with stable codes.
func translate(err error) error {
	var taken *events.ClaimTakenError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &taken):
		switch taken.Kind {
		case events.ClaimOpenID, events.ClaimUnionID, events.ClaimHostUID:
			return domain.New(domain.KindConflict, "already_bound", "this identity is already bound to another account")
		}
		return domain.New(domain.KindConflict, taken.Kind+"_taken", "%s already belongs to another account", taken.Kind)
	case errors.Is(err, events.ErrTooManyConflicts), errors.Is(err, events.ErrConflict):
		return domain.Conflict("the resource was changed concurrently; try again")
	}
	return err
}
