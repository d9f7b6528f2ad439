// Package usecase holds what every use case shares: the injected clock, the
// translation of store errors into domain errors, and the check of a
// handler's dependencies.
package usecase

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Clock is injected so that tests decide time.
type Clock func() time.Time

// Translate turns store errors into domain errors with stable codes.
func Translate(err error) error {
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
	case errors.Is(err, events.ErrChainBroken):
		return ChainBroken(err)
	}
	return err
}

// Require panics when one of a constructor's dependencies is nil: wiring
// that forgot one is a programming error, found at start-up rather than
// on the first request. deps alternate a name and a value.
func Require(constructor string, deps ...any) {
	for i := 0; i+1 < len(deps); i += 2 {
		if isNil(deps[i+1]) {
			panic(fmt.Sprintf("%s: %v is nil", constructor, deps[i]))
		}
	}
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch r := reflect.ValueOf(v); r.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Interface, reflect.Slice, reflect.Chan:
		return r.IsNil()
	}
	return false
}

// ChainBroken is the answer to a command on an aggregate whose stored
// history does not chain (events.ErrChainBroken): 503 chain_broken.
func ChainBroken(err error) *domain.Error {
	return domain.New(domain.KindUnavailable, "chain_broken",
		"this resource's stored history does not chain (an event was written around Bindery); an operator must run binderyctl audit verify")
}
