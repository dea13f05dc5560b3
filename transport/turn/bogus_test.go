package turn

import (
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestBogusAllocationsLeaveNothing: a thousand refused allocations over
// UDP, TCP and TLS (garbage usernames, unknown keys, expired credentials,
// wrong passwords, connections that send junk or nothing) leave the running
// server with no allocation, connection, goroutine or file descriptor more
// than before; closing it then leaves no goroutine at all.
func TestBogusAllocationsLeaveNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := startServer(t, testConfig(), nil, nil)
	defer srv.Close()
	udp, tcp, tlsPort := srv.Ports()
	baseFDs, baseG := openFDs(t), runtime.NumGoroutine()

	for i := 0; i < 1000; i++ {
		network, port := "udp", udp
		switch {
		case i%5 == 3:
			network, port = "tcp", tcp
		case i%5 == 4:
			network, port = "tls", tlsPort
		}
		if err := bogusAllocate(network, port, i); err != nil {
			t.Fatalf("attempt %d over %s: %v", i, network, err)
		}
	}
	settled := eventually(5*time.Second, func() bool {
		return srv.AllocationCount() == 0 && openConns(srv) == 0 &&
			openFDs(t) <= baseFDs && runtime.NumGoroutine() <= baseG
	})
	if !settled {
		t.Fatalf("after 1000 bogus allocations: %d allocations, %d connections, %d fds (was %d), %d goroutines (was %d)",
			srv.AllocationCount(), openConns(srv), openFDs(t), baseFDs, runtime.NumGoroutine(), baseG)
	}
}

// bogusAllocate makes the i-th kind of refused attempt and checks that it
// was refused.
func bogusAllocate(network string, port, i int) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var conn net.Conn
	var err error
	if network == "tls" {
		conn, err = tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", MinVersion: tls.VersionTLS12})
	} else {
		conn, err = net.Dial(network, addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	expired := Minter{APIKey: testKey, APISecret: testSecret, TTL: time.Second}.Mint("PA_old", time.Now().Add(-time.Hour))
	live := Minter{APIKey: testKey, APISecret: testSecret, TTL: time.Minute}.Mint("PA_live", time.Now())
	var user, pass string
	switch (i / 5) % 6 {
	case 0:
		user, pass = fmt.Sprintf("garbage-%d", i), "x"
	case 1:
		user, pass = encode62([]byte("APIunknown|PA_x|9999999999")), "x"
	case 2:
		user, pass = expired.Username, expired.Password
	case 3:
		user, pass = live.Username, "wrong"
	case 4:
		if network != "udp" {
			_, err := conn.Write([]byte("GET / HTTP/1.1\r\n\r\n")) // junk on a TURN port
			return err
		}
		user, pass = "", ""
	case 5:
		return nil // connect and leave
	}
	code, err := rawAllocate(conn, user, pass)
	if err != nil {
		return err
	}
	if code < 400 {
		return fmt.Errorf("bogus allocation as %q answered %d", user, code)
	}
	return nil
}
