//go:build !unix

package natsrv

// lockStore is a no-op where there is no flock: the operator keeps to one
// process per data dir.
func lockStore(string) (func(), error) { return func() {}, nil }
