// Package natsrv runs the embedded nats-server with JetStream that Bindery
// uses when no external NATS URL is configured, with its users.
package natsrv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options of the embedded server.
type Options struct {
	DataDir string // JetStream file storage goes to DataDir/jetstream
	Listen  string // host:port for outside NATS clients, or "off"
	Name    string
	// Passwords of the users bindery and downstream (LoadPasswords); every
	// client authenticates, Bindery's own in-process connection too.
	Passwords Passwords
	// ReservedConsumers are Bindery's durable consumer names, out of a
	// downstream user's reach.
	ReservedConsumers []string
	// Sync is when JetStream writes reach the disk (BINDERY_NATS_SYNC):
	// PolicyGroup (also ""), PolicyAlways or PolicyInterval, which syncs
	// in the background every SyncInterval and acknowledges before.
	Sync         string
	SyncInterval time.Duration
}

// Sync policies.
const (
	// PolicyGroup: nothing the server sends reaches Bindery before a sync
	// of the store's filesystem that began after it (see groupsync.go).
	PolicyGroup = "group"
	// PolicyAlways: the server fsyncs each write before acknowledging it
	// (nats-server's sync_interval: always).
	PolicyAlways = "always"
	// PolicyInterval: the server syncs every SyncInterval in the
	// background; an acknowledged write may still be in the page cache.
	PolicyInterval = "interval"
)

// LockFile is held (flock) in the data dir while an embedded server runs.
const LockFile = "nats.lock"

// ErrStoreInUse: another process runs a server on the data dir's store.
var ErrStoreInUse = errors.New("the data dir's store is in use by another process (a running bindery?)")

// Embedded is a running in-process server and a connection to it.
type Embedded struct {
	Server *server.Server
	Conn   *nats.Conn
	Sync   string // the policy in effect

	group     *groupSync
	closeSync func()
	unlock    func()
}

// Start runs the server and connects to it in-process.
func Start(o Options) (*Embedded, error) {
	opts := &server.Options{
		ServerName:         o.Name,
		JetStream:          true,
		StoreDir:           filepath.Join(o.DataDir, "jetstream"),
		NoSigs:             true,
		NoLog:              true,
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	if o.Passwords.Bindery == "" || o.Passwords.Downstream == "" {
		return nil, errors.New("embedded nats: no passwords (LoadPasswords)")
	}
	opts.Users = users(o.Passwords, o.ReservedConsumers)
	if opts.ServerName == "" {
		opts.ServerName = "bindery"
	}
	if o.Listen == "off" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("BINDERY_NATS_LISTEN %q: %w", o.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("BINDERY_NATS_LISTEN %q: bad port", o.Listen)
		}
		opts.Host, opts.Port = host, p
	}
	unlock, err := lockStore(o.DataDir)
	if err != nil {
		return nil, err
	}
	e := &Embedded{Sync: o.Sync, unlock: unlock}
	if err := e.syncPolicy(opts, o.SyncInterval); err != nil {
		unlock()
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		e.stopSync()
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		e.stopSync()
		return nil, errors.New("embedded nats: not ready (is BINDERY_NATS_LISTEN already in use?)")
	}
	var conns nats.InProcessConnProvider = ns
	if e.group != nil {
		conns = durableConns{s: ns, g: e.group}
	}
	nc, err := nats.Connect("", nats.InProcessServer(conns), nats.Name("bindery"), nats.MaxReconnects(-1),
		nats.UserInfo(UserBindery, o.Passwords.Bindery), nats.CustomInboxPrefix(InboxPrefix))
	if err != nil {
		ns.Shutdown()
		e.stopSync()
		return nil, fmt.Errorf("embedded nats: connect: %w", err)
	}
	e.Server, e.Conn = ns, nc
	return e, nil
}

// syncPolicy sets the server's sync options for e.Sync and, for the
// group policy, starts the syncer of the store's filesystem.
func (e *Embedded) syncPolicy(opts *server.Options, interval time.Duration) error {
	switch e.Sync {
	case "", PolicyGroup:
		if err := os.MkdirAll(opts.StoreDir, 0o750); err != nil {
			return fmt.Errorf("embedded nats: %w", err)
		}
		fsync, closeFn, err := syncFS(opts.StoreDir)
		if errors.Is(err, errNoSyncFS) {
			e.Sync, opts.SyncAlways = PolicyAlways, true
			return nil
		} else if err != nil {
			return fmt.Errorf("embedded nats: %w", err)
		}
		e.Sync, e.group, e.closeSync = PolicyGroup, newGroupSync(fsync), closeFn
	case PolicyAlways:
		opts.SyncAlways = true
	case PolicyInterval:
		if interval <= 0 {
			return errors.New("embedded nats: the interval sync policy needs an interval")
		}
		opts.SyncInterval = interval
	default:
		return fmt.Errorf("embedded nats: unknown sync policy %q", e.Sync)
	}
	return nil
}

// stopSync ends the syncer and, last, releases the store's lock.
func (e *Embedded) stopSync() {
	if e.group != nil {
		e.group.close()
		e.closeSync()
	}
	if e.unlock != nil {
		e.unlock()
	}
}

// Close drains the connection and stops the server, flushing JetStream.
func (e *Embedded) Close() {
	if e.Conn != nil {
		_ = e.Conn.Drain()
		e.Conn.Close()
	}
	e.Server.Shutdown()
	e.Server.WaitForShutdown()
	e.stopSync()
}
