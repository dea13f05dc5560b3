package turn

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Limits on TURN over TCP/TLS, where every client holds a connection and a
// goroutine inside pion.
const (
	// idleTimeout closes a connection that sent nothing for this long. A
	// connection in use carries ICE consent checks every few seconds and
	// refreshes every few minutes.
	idleTimeout = 2 * time.Minute
	// maxConns bounds the connections one listener holds open.
	maxConns = 4096
)

// trackedListener hands pion connections with an idle deadline, refuses
// connections beyond maxConns, and closes every connection it handed out
// when it is closed (pion's Server.Close closes only the listener).
type trackedListener struct {
	net.Listener
	log  *slog.Logger
	idle time.Duration
	max  int

	mu     sync.Mutex
	conns  map[*idleConn]struct{}
	closed bool
}

func newTrackedListener(ln net.Listener, log *slog.Logger) *trackedListener {
	return &trackedListener{Listener: ln, log: log, idle: idleTimeout, max: maxConns, conns: map[*idleConn]struct{}{}}
}

// Accept returns the next connection under the limit.
func (l *trackedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ic := &idleConn{Conn: c, owner: l}
		l.mu.Lock()
		full, closed := len(l.conns) >= l.max, l.closed
		if !full && !closed {
			l.conns[ic] = struct{}{}
		}
		l.mu.Unlock()
		if closed {
			_ = c.Close()
			return nil, net.ErrClosed
		}
		if full {
			l.log.Warn("turn: too many connections, refusing one", "listener", l.Addr().String(), "remote", c.RemoteAddr().String())
			_ = c.Close()
			continue
		}
		return ic, nil
	}
}

// Close closes the listener and every connection it accepted.
func (l *trackedListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = map[*idleConn]struct{}{}
	l.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// open is the number of connections currently held (tests).
func (l *trackedListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *trackedListener) forget(c *idleConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// idleConn pushes its read deadline forward on every read.
type idleConn struct {
	net.Conn
	owner *trackedListener
	once  sync.Once
}

// Read reads with the listener's idle deadline.
func (c *idleConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.owner.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// Close closes the connection and forgets it.
func (c *idleConn) Close() error {
	c.once.Do(func() { c.owner.forget(c) })
	return c.Conn.Close()
}
