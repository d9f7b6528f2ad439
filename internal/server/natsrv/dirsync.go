package natsrv

// DirSyncer gives a process outside the server the group policy's
// guarantee for what it reads from the server: Wait returns once a sync of
// the filesystem holding a directory, begun after the call, has completed,
// one sync shared by every caller waiting meanwhile. The raw publish rate
// of "binderyctl bench login" uses it so that raw publishes pay for
// durability as Bindery's appends do under BINDERY_NATS_SYNC=group.
type DirSyncer struct {
	g       *groupSync
	closeFn func()
}

// NewDirSyncer syncs the filesystem of dir. Unlike the server's own
// syncer it never skips a sync: the writes are another process's.
func NewDirSyncer(dir string) (*DirSyncer, error) {
	fsync, closeFn, err := syncFSAlways(dir)
	if err != nil {
		return nil, err
	}
	return &DirSyncer{g: newGroupSync(fsync), closeFn: closeFn}, nil
}

// Wait returns once a sync begun after the call has completed.
func (d *DirSyncer) Wait() error { return d.g.wait(d.g.ticket()) }

// Close stops the syncer.
func (d *DirSyncer) Close() {
	d.g.close()
	d.closeFn()
}
