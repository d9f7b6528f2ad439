//go:build !linux

package natsrv

// syncFS is not available outside Linux: the group policy falls back to
// nats-server syncing every write (always).
func syncFS(string) (func() error, func(), error) { return nil, nil, errNoSyncFS }

func syncFSAlways(string) (func() error, func(), error) { return nil, nil, errNoSyncFS }
