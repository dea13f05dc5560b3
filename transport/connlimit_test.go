package transport

import (
	"io"
	"net"
	"testing"
	"time"
)

// dialFrom opens a TCP connection to addr from the loopback address local (127.0.0.x), so a test
// can stand in for several remote hosts.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedByServer reports whether the server closed c (a read ends with EOF or a reset) within a
// short wait, rather than keeping it open.
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

// One host cannot hold more than PerIP connections, a second host still gets in, the total cap
// holds across hosts, and a slot comes back when its connection closes.
func TestLimitListenerCapsPerIPAndTotal(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := LimitListener(raw, ConnLimits{Total: 5, PerIP: 3})
	defer l.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, as a slow client's would be
		}
	}()
	addr := raw.Addr().String()

	var fromA []net.Conn // server side of the first host's connections
	for i := 0; i < 3; i++ {
		dialFrom(t, "127.0.0.1", addr)
		fromA = append(fromA, <-accepted)
	}
	if extra := dialFrom(t, "127.0.0.1", addr); !closedByServer(extra) {
		t.Fatal("a fourth connection from one IP was kept open (PerIP 3)")
	}
	for i := 0; i < 2; i++ {
		dialFrom(t, "127.0.0.2", addr)
		<-accepted
	}
	if over := dialFrom(t, "127.0.0.3", addr); !closedByServer(over) {
		t.Fatal("a sixth connection in all was kept open (Total 5)")
	}
	if got := l.Refused(); got != 2 {
		t.Errorf("Refused() = %d, want 2", got)
	}

	// Closing one of the first host's connections gives that host (and the total) a slot back.
	_ = fromA[0].Close()
	again := dialFrom(t, "127.0.0.1", addr)
	select {
	case c := <-accepted:
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		_ = again.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(again, make([]byte, 1)); err != nil {
			t.Fatalf("a connection after a slot was freed was not served: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a connection after a slot was freed was not accepted")
	}
}
