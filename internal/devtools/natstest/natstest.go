// Package natstest runs real nats-servers with JetStream for tests: one
// in-process server, or a three-node cluster on loopback.
package natstest

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Server starts a JetStream server with file storage under dir (t.TempDir()
// when dir is ""), shut down at test end.
func Server(t testing.TB, dir string) *server.Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	opts := &server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true, ServerName: "test", JetStreamMaxMemory: 64 << 20,
	}
	ns, err := startServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// Connect opens a client connection closed at test end.
func Connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Cluster is a three-node JetStream cluster on loopback.
type Cluster struct {
	Servers []*server.Server
	opts    []*server.Options
}

// URLs is a client URL list naming every node.
func (c *Cluster) URLs() string {
	s := ""
	for i, ns := range c.Servers {
		if i > 0 {
			s += ","
		}
		s += ns.ClientURL()
	}
	return s
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// NewCluster starts three JetStream servers that form one cluster.
//
// The route ports are picked free and then handed to the servers, so
// another test process can take one in between (the server then never
// becomes ready): the whole cluster is started again on fresh ports, up
// to three times.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var c *Cluster
		if c, err = startCluster(t, t.TempDir()); err == nil {
			t.Cleanup(c.shutdown)
			c.WaitJetStream(t)
			return c
		}
	}
	t.Fatal(err)
	return nil
}

// startCluster starts three servers routed to each other under base; on a
// failure it shuts down those it started.
func startCluster(t testing.TB, base string) (*Cluster, error) {
	ports := []int{freePort(t), freePort(t), freePort(t)}
	routes := ""
	for i, p := range ports {
		if i > 0 {
			routes += ","
		}
		routes += fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	c := &Cluster{}
	for i := range ports {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: filepath.Join(base, fmt.Sprintf("n%d", i+1)),
			NoLog: true, NoSigs: true, JetStreamMaxMemory: 64 << 20,
		}
		o.Cluster.Name = "bindery-test"
		o.Cluster.Host = "127.0.0.1"
		o.Cluster.Port = ports[i]
		o.Routes = server.RoutesFromStr(routes)
		ns, err := startServer(o)
		if err != nil {
			c.shutdown()
			return nil, fmt.Errorf("cluster node n%d (route port %d): %w", i+1, ports[i], err)
		}
		c.opts = append(c.opts, o)
		c.Servers = append(c.Servers, ns)
	}
	return c, nil
}

func (c *Cluster) shutdown() {
	for _, s := range c.Servers {
		if s != nil {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}
}

// startServer starts a server and waits until it takes connections; a
// loaded machine running many test processes at once can take seconds.
func startServer(o *server.Options) (*server.Server, error) {
	ns, err := server.NewServer(o)
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("not ready for connections within 30s")
	}
	return ns, nil
}

func (c *Cluster) start(t testing.TB, o *server.Options) *server.Server {
	t.Helper()
	ns, err := startServer(o)
	if err != nil {
		t.Fatalf("restart %s: %v", o.ServerName, err)
	}
	return ns
}

// WaitJetStream waits until the meta leader is elected and every running
// node is current.
func (c *Cluster) WaitJetStream(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, s := range c.Servers {
			if s == nil || !s.Running() {
				continue
			}
			if !s.JetStreamIsCurrent() {
				ok = false
			}
		}
		if ok && c.leader() != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("cluster: no JetStream meta leader")
}

func (c *Cluster) leader() *server.Server {
	for _, s := range c.Servers {
		if s != nil && s.Running() && s.JetStreamIsLeader() {
			return s
		}
	}
	return nil
}

// StreamLeader returns the index of the node leading the stream.
func (c *Cluster) StreamLeader(stream string) int {
	for i, s := range c.Servers {
		if s != nil && s.Running() && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// Stop shuts node i down.
func (c *Cluster) Stop(i int) {
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
}

// Restart starts node i again with its old options and storage.
func (c *Cluster) Restart(t testing.TB, i int) {
	c.Servers[i] = c.start(t, c.opts[i].Clone())
}
