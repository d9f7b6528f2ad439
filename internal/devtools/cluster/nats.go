package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/nats-io/nats-server/v2/server"
)

// nodeEnv carries a node's settings to the child process that runs it.
const nodeEnv = "BINDERY_CLUSTER_NATS_NODE"

// nodeSpec is one nats-server of the cluster.
type nodeSpec struct {
	Name        string   `json:"name"`
	Port        int      `json:"port"`
	ClusterPort int      `json:"cluster_port"`
	HTTPPort    int      `json:"http_port"`
	Routes      []string `json:"routes"`
	Dir         string   `json:"dir"`
	SyncAlways  bool     `json:"sync_always"`
}

// RunNodeIfAsked turns this process into a cluster node when the harness
// started it as one (and never returns then). Call it first in TestMain of
// a package that uses NewNATS: the nodes are that test binary run again,
// so they are real processes that can be killed, with the nats-server
// version of go.mod.
func RunNodeIfAsked() {
	raw := os.Getenv(nodeEnv)
	if raw == "" {
		return
	}
	var spec nodeSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "cluster node:", err)
		os.Exit(2)
	}
	o := &server.Options{
		ServerName: spec.Name, Host: "127.0.0.1", Port: spec.Port, HTTPHost: "127.0.0.1", HTTPPort: spec.HTTPPort,
		JetStream: true, StoreDir: spec.Dir, SyncAlways: spec.SyncAlways,
		LogFile: filepath.Join(spec.Dir, "nats.log"), Logtime: true,
	}
	o.Cluster.Name = "bindery"
	o.Cluster.Host = "127.0.0.1"
	o.Cluster.Port = spec.ClusterPort
	// Every route goes through the harness's proxies: no node may learn
	// another's direct address (gossip would connect around a partition),
	// and clients must not learn the nodes' direct client URLs.
	o.Cluster.NoAdvertise = true
	o.Cluster.Advertise = "127.0.0.1:1"
	o.Routes = server.RoutesFromStr(strings.Join(spec.Routes, ","))
	ns, err := server.NewServer(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster node:", err)
		os.Exit(2)
	}
	ns.ConfigureLogger()
	ns.Start()
	ns.WaitForShutdown()
	os.Exit(0)
}

// NATS is a three-node JetStream cluster of child processes whose routes,
// and the links of every client made with ClientURLs, run through Proxies.
type NATS struct {
	dir    string
	nodes  []*node
	routes map[[2]int]*Proxy // [from, to]

	mu      sync.Mutex
	clients [][]*Proxy // per client: its link to each node
}

type node struct {
	spec nodeSpec
	cmd  *exec.Cmd
	done chan struct{}
}

// NATSOptions shape the cluster.
type NATSOptions struct {
	// SyncAlways makes every node fsync before it acknowledges, as
	// docker-compose.yml's nodes do (jetstream { sync_interval: always }).
	SyncAlways bool
}

// freePort is a loopback port nobody listened on a moment ago.
func freePort() (int, error) {
	ports, release, err := reservePorts(1)
	if err != nil {
		return 0, err
	}
	release()
	return ports[0], nil
}

// reservePorts listens on count free loopback ports and returns them with
// a func that closes the listeners: held until the nodes start, the ports
// cannot be handed to the proxies made meanwhile (a node once failed with
// "address already in use" on its route port).
func reservePorts(count int) ([]int, func(), error) {
	var ls []net.Listener
	release := func() {
		for _, l := range ls {
			l.Close()
		}
	}
	ports := make([]int, 0, count)
	for range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			release()
			return nil, nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, release, nil
}

// errNodeExited is a node process that ended on its own (it was not
// killed), e.g. because another process took one of its ports.
var errNodeExited = errors.New("cluster: a node exited")

// NewNATS starts the three nodes under dir and waits until JetStream has
// a meta leader and every node is healthy. A node that exits while the
// cluster starts (a port taken by another process in between) makes it
// start again on fresh ports, up to three times.
func NewNATS(ctx context.Context, dir string, opts NATSOptions) (*NATS, error) {
	var err error
	for range 3 {
		var n *NATS
		if n, err = newNATS(ctx, dir, opts); err == nil || !errors.Is(err, errNodeExited) {
			return n, err
		}
		if rerr := os.RemoveAll(dir); rerr != nil {
			return nil, rerr
		}
	}
	return nil, err
}

func newNATS(ctx context.Context, dir string, opts NATSOptions) (*NATS, error) {
	n := &NATS{dir: dir, routes: map[[2]int]*Proxy{}}
	reserved, release, err := reservePorts(9)
	if err != nil {
		return nil, err
	}
	var ports [3][3]int
	for i := range ports {
		copy(ports[i][:], reserved[3*i:3*i+3])
	}
	for i := range 3 {
		spec := nodeSpec{
			Name: fmt.Sprintf("nats%d", i+1), Port: ports[i][0], ClusterPort: ports[i][1], HTTPPort: ports[i][2],
			Dir: filepath.Join(dir, fmt.Sprintf("nats%d", i+1)), SyncAlways: opts.SyncAlways,
		}
		for j := range 3 {
			if j == i {
				continue
			}
			p, err := NewProxy(fmt.Sprintf("127.0.0.1:%d", ports[j][1]))
			if err != nil {
				release()
				n.Close()
				return nil, err
			}
			n.routes[[2]int{i, j}] = p
			spec.Routes = append(spec.Routes, "nats-route://"+p.Addr())
		}
		if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
			release()
			n.Close()
			return nil, err
		}
		n.nodes = append(n.nodes, &node{spec: spec})
	}
	release()
	for i := range n.nodes {
		if err := n.start(i); err != nil {
			n.Close()
			return nil, err
		}
	}
	if err := n.WaitHealthy(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *NATS) start(i int) error {
	nd := n.nodes[i]
	raw, _ := json.Marshal(nd.spec)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeEnv+"="+string(raw))
	out, err := os.OpenFile(filepath.Join(nd.spec.Dir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(done) }()
	nd.cmd, nd.done = cmd, done
	return nil
}

// Nodes is the number of nodes (3).
func (n *NATS) Nodes() int { return len(n.nodes) }

// Name is node i's server name (nats1, nats2, nats3).
func (n *NATS) Name(i int) string { return n.nodes[i].spec.Name }

// Pid is node i's process id (0 while it is killed).
func (n *NATS) Pid(i int) int {
	if c := n.nodes[i].cmd; c != nil && c.Process != nil {
		return c.Process.Pid
	}
	return 0
}

// DirectURL is node i's client URL, not through any proxy (for the
// harness's own checks).
func (n *NATS) DirectURL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", n.nodes[i].spec.Port)
}

// ClientURLs makes a new client's links, one proxy to each node, and
// returns its BINDERY_NATS_URL and its number for CutClient.
func (n *NATS) ClientURLs() (string, int, error) {
	var links []*Proxy
	var urls []string
	for _, nd := range n.nodes {
		p, err := NewProxy(fmt.Sprintf("127.0.0.1:%d", nd.spec.Port))
		if err != nil {
			return "", 0, err
		}
		links = append(links, p)
		urls = append(urls, "nats://"+p.Addr())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.clients = append(n.clients, links)
	return strings.Join(urls, ","), len(n.clients) - 1, nil
}

// CutClient cuts client c off from every node; HealClient undoes it.
func (n *NATS) CutClient(c int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.clients[c] {
		p.Cut()
	}
}

// HealClient restores client c's links.
func (n *NATS) HealClient(c int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.clients[c] {
		p.Heal()
	}
}

// Partition cuts node i off from the other nodes and from every client,
// as if its network went dark; the node keeps running.
func (n *NATS) Partition(i int) { n.links(i, (*Proxy).Cut) }

// HealPartition restores node i's links.
func (n *NATS) HealPartition(i int) { n.links(i, (*Proxy).Heal) }

func (n *NATS) links(i int, f func(*Proxy)) {
	for k, p := range n.routes {
		if k[0] == i || k[1] == i {
			f(p)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, links := range n.clients {
		f(links[i])
	}
}

// Kill ends node i with SIGKILL (no shutdown, no leadership hand-over).
func (n *NATS) Kill(i int) {
	nd := n.nodes[i]
	if nd.cmd == nil {
		return
	}
	_ = nd.cmd.Process.Signal(syscall.SIGKILL)
	<-nd.done
	nd.cmd = nil
}

// Restart starts a killed node i again on its storage, on fresh ports
// behind the same proxies: while it was down another process may have
// taken its old ones.
func (n *NATS) Restart(i int) error {
	ports, release, err := reservePorts(3)
	if err != nil {
		return err
	}
	nd := n.nodes[i]
	nd.spec.Port, nd.spec.ClusterPort, nd.spec.HTTPPort = ports[0], ports[1], ports[2]
	for k, p := range n.routes {
		if k[1] == i {
			p.Retarget(fmt.Sprintf("127.0.0.1:%d", nd.spec.ClusterPort))
		}
	}
	n.mu.Lock()
	for _, links := range n.clients {
		links[i].Retarget(fmt.Sprintf("127.0.0.1:%d", nd.spec.Port))
	}
	n.mu.Unlock()
	release()
	return n.start(i)
}

// Close kills every node and closes every proxy.
func (n *NATS) Close() {
	for i := range n.nodes {
		n.Kill(i)
	}
	for _, p := range n.routes {
		p.Close()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, links := range n.clients {
		for _, p := range links {
			p.Close()
		}
	}
}
