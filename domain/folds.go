package domain

import "github.com/bindery/bindery/events"

// Folder is implemented by every aggregate: Folds lists the event types its
// Apply folds into the state. The declaration cannot drift from the code:
// domain/catalogue_test.go reads each Apply (and the methods it calls) and
// fails when the event types its type switches and assertions name differ
// from Folds, or when an Apply in domain/ belongs to an aggregate it does
// not know; it then checks that every type of events.Catalogue() is folded
// here, reduced by a view (projections) or explicitly ignored.
type Folder interface {
	Folds() []events.Event
}
