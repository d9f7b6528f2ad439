package natsrv

import (
	"errors"
	"net"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// Group commit. nats-server's own sync-always mode fsyncs every message
// in the stream's write path, one after another, whatever the number of
// concurrent writers. Instead the server runs with its background
// interval, and Bindery's in-process connection holds back every byte
// the server sends it (publish acknowledgements, key-value answers,
// consumer deliveries) until a sync of the filesystem that holds the
// store, begun after those bytes arrived, has completed. The server writes
// a message before it sends its acknowledgement, so the acknowledgement
// reaches Bindery only once the message is on disk, and the
// acknowledgements that arrive during one sync share the next.

// groupSync runs one filesystem sync at a time, each for everyone who
// asked before it began.
type groupSync struct {
	fsync func() error

	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // syncs begun
	done    uint64 // syncs completed (the first `done` of them)
	wanted  uint64 // the highest sync anyone waits for
	err     error  // a failed sync: sticky, nothing later counts as durable
	closed  bool
	exited  chan struct{}
}

var (
	errSyncClosed = errors.New("embedded nats: store closed")
	errNoSyncFS   = errors.New("embedded nats: syncfs is not available here")
)

func newGroupSync(fsync func() error) *groupSync {
	g := &groupSync{fsync: fsync, exited: make(chan struct{})}
	g.cond = sync.NewCond(&g.mu)
	go g.loop()
	return g
}

func (g *groupSync) loop() {
	defer close(g.exited)
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		for g.wanted <= g.started && !g.closed {
			g.cond.Wait()
		}
		if g.closed {
			return
		}
		g.started++
		n := g.started
		g.mu.Unlock()
		err := g.fsync()
		g.mu.Lock()
		g.done = n
		if err != nil && g.err == nil {
			g.err = err
		}
		g.cond.Broadcast()
	}
}

// ticket asks for a sync that begins after now and returns its number.
func (g *groupSync) ticket() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.started + 1
	if t > g.wanted {
		g.wanted = t
		g.cond.Broadcast()
	}
	return t
}

// wait returns once sync t has completed.
func (g *groupSync) wait(t uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.done < t && g.err == nil && !g.closed {
		g.cond.Wait()
	}
	switch {
	case g.err != nil:
		return g.err
	case g.done < t:
		return errSyncClosed
	}
	return nil
}

// close stops the syncer once the sync under way, if any, has returned.
func (g *groupSync) close() {
	g.mu.Lock()
	g.closed = true
	g.cond.Broadcast()
	g.mu.Unlock()
	<-g.exited
}

// durableConn is the client end of an in-process connection: a goroutine
// drains the pipe as fast as the server writes, and Read hands out each
// chunk once the sync asked for on its arrival has completed.
type durableConn struct {
	net.Conn
	g *groupSync

	rmu    sync.Mutex // one Read at a time
	mu     sync.Mutex
	cond   *sync.Cond
	chunks []durableChunk
	held   int   // bytes in chunks
	rerr   error // the pipe's read error, after the chunks
	closed bool
}

type durableChunk struct {
	data   []byte
	ticket uint64
}

func newDurableConn(c net.Conn, g *groupSync) *durableConn {
	d := &durableConn{Conn: c, g: g}
	d.cond = sync.NewCond(&d.mu)
	go d.drain()
	return d
}

// maxHeld is how many bytes a durableConn holds before it stops draining
// the pipe, so that a slow reader slows the server down (its flow
// control and slow-consumer limits) instead of growing this buffer.
const maxHeld = 1 << 20

func (d *durableConn) drain() {
	// One read buffer, and a chunk the size of what was read: most reads
	// are an acknowledgement or a direct get's answer of a few hundred
	// bytes, and a fresh 32 KiB buffer per read was a tenth of the
	// garbage of a login.
	buf := make([]byte, 32<<10)
	for {
		d.mu.Lock()
		for d.held >= maxHeld && !d.closed {
			d.cond.Wait()
		}
		d.mu.Unlock()
		n, err := d.Conn.Read(buf)
		d.mu.Lock()
		if n > 0 {
			d.chunks = append(d.chunks, durableChunk{data: append([]byte(nil), buf[:n]...), ticket: d.g.ticket()})
			d.held += n
		}
		if err != nil {
			d.rerr = err
		}
		d.cond.Broadcast()
		d.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Read returns the oldest chunk's bytes once they are on disk.
func (d *durableConn) Read(p []byte) (int, error) {
	d.rmu.Lock()
	defer d.rmu.Unlock()
	d.mu.Lock()
	for len(d.chunks) == 0 && d.rerr == nil {
		d.cond.Wait()
	}
	if len(d.chunks) == 0 {
		err := d.rerr
		d.mu.Unlock()
		return 0, err
	}
	c := d.chunks[0]
	d.mu.Unlock()
	if err := d.g.wait(c.ticket); err != nil {
		d.Close()
		return 0, err
	}
	n := copy(p, c.data)
	d.mu.Lock()
	if n < len(c.data) {
		d.chunks[0].data = c.data[n:]
	} else {
		d.chunks[0] = durableChunk{}
		d.chunks = d.chunks[1:]
	}
	d.held -= n
	d.cond.Broadcast()
	d.mu.Unlock()
	return n, nil
}

// Close closes the pipe and stops the drain.
func (d *durableConn) Close() error {
	d.mu.Lock()
	d.closed = true
	d.cond.Broadcast()
	d.mu.Unlock()
	return d.Conn.Close()
}

// durableConns hands the NATS client durable in-process connections.
type durableConns struct {
	s *server.Server
	g *groupSync
}

func (p durableConns) InProcessConn() (net.Conn, error) {
	c, err := p.s.InProcessConn()
	if err != nil {
		return nil, err
	}
	return newDurableConn(c, p.g), nil
}
