package turn

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestTrackedListener: a silent connection is closed after the idle time,
// connections beyond the cap are refused, and closing the listener closes
// the connections it handed out.
func TestTrackedListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := newTrackedListener(raw, testLog(t))
	tl.idle, tl.max = 200*time.Millisecond, 2
	defer tl.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	dial()
	first := <-accepted
	start := time.Now()
	var ne net.Error
	if _, err := first.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("silent connection: %v, want an idle timeout", err)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Fatal("idle timeout fired early")
	}
	_ = first.Close()
	dial()
	dial()
	second, third := <-accepted, <-accepted
	over := dial() // beyond the cap of 2: closed by the server at once
	_ = over.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection over the cap: %v, want it closed", err)
	}
	if n := tl.open(); n != 2 {
		t.Fatalf("%d open connections, want 2", n)
	}
	_ = tl.Close()
	for _, c := range []net.Conn{second, third} {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("after Close, read on an accepted connection: %v, want closed", err)
		}
	}
	if _, ok := <-accepted; ok {
		t.Fatal("Accept went on after Close")
	}
}
