// Package domain holds what every aggregate shares: the error type whose
// kind and stable code the HTTP layer maps to a problem response, and the
// Folder declaration of the events each aggregate folds.
package domain

import (
	"fmt"
	"time"
)

// Kind classifies an error for the one mapper that turns it into HTTP.
type Kind int

// Error kinds.
const (
	KindValidation Kind = iota + 1
	KindUnauthorized
	KindForbidden
	KindNotFound
	KindConflict
	KindGone
	KindTooLarge
	KindRateLimited
	KindUnavailable
	KindTimeout
	KindUnsupported
	KindBadGateway // an upstream refused Bindery's own configuration (502)
)

// Error is a named domain error: a kind, a stable code clients can rely on
// (already_bound) and a human message that never holds a secret.
type Error struct {
	Kind       Kind
	Code       string
	Message    string
	RetryAfter time.Duration // for KindRateLimited
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes errors.Is match on the code, so a wrapped or re-created error with
// the same code compares equal to the sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// New returns an error of the given kind and code.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid is a validation_failed error.
func Invalid(format string, args ...any) *Error {
	return New(KindValidation, "validation_failed", format, args...)
}

// NotFound is a not_found error.
func NotFound(format string, args ...any) *Error {
	return New(KindNotFound, "not_found", format, args...)
}

// Conflict is a conflict error.
func Conflict(format string, args ...any) *Error {
	return New(KindConflict, "conflict", format, args...)
}
