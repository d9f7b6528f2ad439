package cluster

import (
	"net"
	"sync"
)

// Proxy forwards TCP connections from its loopback address to a target,
// and can be cut like a network link that goes dark: while cut, bytes
// stop flowing in both directions (they wait, as in a kernel's buffers
// during a partition) and new connections are accepted but never answered,
// so the peers notice only through their own timeouts and heartbeats, as
// with a cable pulled or a netns link set down. Heal lets the waiting
// bytes through, as TCP retransmissions would after a partition heals.
type Proxy struct {
	target string
	ln     net.Listener

	mu    sync.Mutex
	open  chan struct{} // closed while the link is up
	conns map[net.Conn]struct{}
	done  bool
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, open: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.open)
	go p.accept()
	return p, nil
}

// Retarget sends the connections made from now on to target (a node
// restarted on another port).
func (p *Proxy) Retarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

func (p *Proxy) targetAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut stops the link (idempotent).
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
}

// Heal restores the link (idempotent).
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// Close stops listening and drops every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.done = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.Heal()
}

// gate returns the channel that is closed while the link is up.
func (p *Proxy) gate() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(in)
	}
}

func (p *Proxy) serve(in net.Conn) {
	if !p.track(in) {
		return
	}
	defer p.forget(in)
	// A connection made while the link is down waits for it, like a SYN
	// retransmitted until the partition heals.
	<-p.gate()
	out, err := net.Dial("tcp", p.targetAddr())
	if err != nil {
		return
	}
	if !p.track(out) {
		return
	}
	defer p.forget(out)
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(out, in) })
	wg.Go(func() { p.pipe(in, out) })
	wg.Wait()
}

// pipe copies src to dst, holding each chunk while the link is cut; when
// one side ends, both connections close.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
