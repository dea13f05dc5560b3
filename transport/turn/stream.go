package turn

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"

	pionturn "github.com/pion/turn/v2"
)

// streamListener serves TURN over one TCP or TLS listener with one pion
// server per connection. pion v2's own listener support keeps an
// allocation alive after its connection closed, until its lifetime (up to
// an hour) runs out, relay socket included; RFC 6062/8656 want it deleted
// with the connection. A per-connection server gives exactly that: when
// the connection's read loop ends, the server and its allocations go.
type streamListener struct {
	tl        *trackedListener
	tlsConf   *tls.Config
	newServer func(net.PacketConn) (*pionturn.Server, error)
	log       *slog.Logger

	mu      sync.Mutex
	servers map[*pionturn.Server]struct{}
	closed  bool
	wg      sync.WaitGroup
}

func newStreamListener(tl *trackedListener, tlsConf *tls.Config, newServer func(net.PacketConn) (*pionturn.Server, error), log *slog.Logger) *streamListener {
	l := &streamListener{tl: tl, tlsConf: tlsConf, newServer: newServer, log: log, servers: map[*pionturn.Server]struct{}{}}
	l.wg.Add(1)
	go l.serve()
	return l
}

// serve accepts until the listener closes.
func (l *streamListener) serve() {
	defer l.wg.Done()
	for {
		c, err := l.tl.Accept()
		if err != nil {
			return
		}
		l.start(c)
	}
}

// start runs a pion server on one connection.
func (l *streamListener) start(c net.Conn) {
	if l.tlsConf != nil {
		c = tls.Server(c, l.tlsConf)
	}
	pc := &watchedConn{PacketConn: pionturn.NewSTUNConn(c)}
	srv, err := l.newServer(pc)
	if err != nil {
		l.log.Warn("turn: serve connection", "remote", c.RemoteAddr().String(), "err", err)
		_ = c.Close()
		return
	}
	l.mu.Lock()
	closed := l.closed
	if !closed {
		l.servers[srv] = struct{}{}
	}
	l.mu.Unlock()
	if closed || !pc.watch(func() { l.drop(srv) }) {
		l.drop(srv)
	}
}

// drop closes one connection's server: its connection and allocations.
func (l *streamListener) drop(srv *pionturn.Server) {
	l.mu.Lock()
	delete(l.servers, srv)
	l.mu.Unlock()
	_ = srv.Close()
}

// allocations counts the allocations of every open connection.
func (l *streamListener) allocations() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for s := range l.servers {
		n += s.AllocationCount()
	}
	return n
}

// Close stops accepting and closes every connection with its allocations.
func (l *streamListener) Close() error {
	err := l.tl.Close()
	l.wg.Wait()
	l.mu.Lock()
	l.closed = true
	servers := l.servers
	l.servers = map[*pionturn.Server]struct{}{}
	l.mu.Unlock()
	for s := range servers {
		_ = s.Close()
	}
	return err
}

// watchedConn reports the first read error: pion's read loop, the only
// reader, ends on it.
type watchedConn struct {
	net.PacketConn
	mu     sync.Mutex
	dead   bool
	onDead func()
}

// ReadFrom reads one STUN message or ChannelData frame.
func (c *watchedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if err != nil {
		c.mu.Lock()
		f := c.onDead
		c.dead, c.onDead = true, nil
		c.mu.Unlock()
		if f != nil {
			f()
		}
	}
	return n, addr, err
}

// watch arranges for f to run when the read loop ends; false means it has
// already ended and f will not run.
func (c *watchedConn) watch(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return false
	}
	c.onDead = f
	return true
}
