// Package natsrv runs the embedded nats-server with JetStream that Bindery
// uses when no external NATS URL is configured, with its users.
package natsrv

import (
	"errors"
	"fmt"
	"net"
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
}

// Embedded is a running in-process server and a connection to it.
type Embedded struct {
	Server *server.Server
	Conn   *nats.Conn
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
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready (is BINDERY_NATS_LISTEN already in use?)")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Name("bindery"), nats.MaxReconnects(-1),
		nats.UserInfo(UserBindery, o.Passwords.Bindery), nats.CustomInboxPrefix(InboxPrefix))
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats: connect: %w", err)
	}
	return &Embedded{Server: ns, Conn: nc}, nil
}

// Close drains the connection and stops the server, flushing JetStream.
func (e *Embedded) Close() {
	if e.Conn != nil {
		_ = e.Conn.Drain()
		e.Conn.Close()
	}
	e.Server.Shutdown()
	e.Server.WaitForShutdown()
}
