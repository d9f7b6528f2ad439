package server

import "time"

// Option changes how New builds the server (tests).
type Option func(*App)

// WithClock makes now the clock of the QR logins, the sessions and the
// HTTP layer (token checks, event times), so that tests can move time
// (QR expiry) without waiting for it.
func WithClock(now func() time.Time) Option { return func(a *App) { a.clock = now } }
