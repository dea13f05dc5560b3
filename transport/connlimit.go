package transport

import (
	"net"
	"sync"
	"sync/atomic"
)

// ConnLimits caps the TCP connections one listener holds open: in all, and from one remote IP.
// Zero means no cap. A connection beyond a cap is closed as soon as it is accepted, before any
// byte of it is read, so that one host cannot hold every slot with idle or slow connections.
type ConnLimits struct {
	Total int // connections open at once (LiveKit has no such key; default in the command: 10,000)
	PerIP int // connections open at once from one remote IP (default in the command: 256)
}

// LimitListener wraps l so that it enforces limits. Refused connections are counted in Refused.
func LimitListener(l net.Listener, limits ConnLimits) *LimitedListener {
	return &LimitedListener{Listener: l, limits: limits, perIP: map[string]int{}}
}

// LimitedListener is a net.Listener that refuses connections beyond its ConnLimits.
type LimitedListener struct {
	net.Listener
	limits  ConnLimits
	mu      sync.Mutex
	total   int
	perIP   map[string]int
	refused atomic.Int64
}

// Accept returns the next connection within the limits, closing those beyond them.
func (l *LimitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if l.admit(ip) {
			return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
		}
		l.refused.Add(1)
		_ = c.Close()
	}
}

// Refused is how many connections were closed for being over a limit.
func (l *LimitedListener) Refused() int64 { return l.refused.Load() }

func (l *LimitedListener) admit(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limits.Total > 0 && l.total >= l.limits.Total {
		return false
	}
	if l.limits.PerIP > 0 && l.perIP[ip] >= l.limits.PerIP {
		return false
	}
	l.total++
	l.perIP[ip]++
	return true
}

func (l *LimitedListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// remoteIP is the connection's remote address without its port.
func remoteIP(c net.Conn) string {
	if host, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		return host
	}
	return c.RemoteAddr().String()
}

// limitedConn gives its slot back once, when it is closed (net/http closes hijacked connections
// through the same Conn, so WebSockets count until they end).
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
