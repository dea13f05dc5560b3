package turn

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v2"
	"go.uber.org/goleak"
)

func TestPeerPolicy(t *testing.T) {
	// Documentation addresses stand in for a public node IP; no packet is sent.
	node := net.ParseIP("203.0.113.7")
	p, err := NewPeerPolicy([]net.IP{node, net.ParseIP("10.0.0.5")}, []PortRange{{7882, 7882}, {50000, 50100}},
		[]string{"192.168.1.0/24"}, []string{"203.0.113.7/32"}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	open, err := NewPeerPolicy([]net.IP{node}, nil, nil, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pol  *PeerPolicy
		addr string
		want bool
	}{
		{open, "203.0.113.7:9", true},       // the node, any port when none are known
		{open, "203.0.113.8:7882", false},   // another public host: never an open relay
		{open, "198.51.100.1:7882", false},  // idem
		{p, "203.0.113.7:7882", false},      // denied although it is the node
		{p, "10.0.0.5:7882", false},         // the node, but private and not allowed
		{p, "192.168.1.9:7882", true},       // allowed restricted peer
		{p, "192.168.1.9:50050", true},      // in the second media range
		{p, "192.168.1.9:22", false},        // not a media port
		{p, "192.168.2.9:7882", false},      // private, outside the allowed CIDR
		{open, "127.0.0.1:7882", false},     // loopback
		{open, "169.254.1.1:7882", false},   // link-local
		{open, "224.0.0.251:5353", false},   // multicast
		{open, "0.0.0.0:7882", false},       // unspecified
		{open, "[fe80::1]:7882", false},     // IPv6 link-local
		{open, "[::1]:7882", false},         // IPv6 loopback
		{open, "[2001:db8::1]:7882", false}, // IPv6, not the node
	} {
		ua, err := net.ResolveUDPAddr("udp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := tc.pol.AllowAddr(ua); got != tc.want {
			t.Errorf("AllowAddr(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if _, err := NewPeerPolicy(nil, nil, []string{"not a cidr"}, nil, nil); err == nil {
		t.Error("bad CIDR accepted")
	}
}

// turnClient allocates on srv over UDP with fresh minted credentials; stop
// closes the relay socket, the client and its socket.
func turnClient(t *testing.T, srv *Server) (cl *pionturn.Client, relay net.PacketConn, stop func()) {
	t.Helper()
	udp, _, _ := srv.Ports()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Credentials("PA_perm")
	cl, err = pionturn.NewClient(&pionturn.ClientConfig{
		TURNServerAddr: "127.0.0.1:" + strconv.Itoa(udp), Conn: conn, Username: c.Username, Password: c.Password,
		Realm: Realm, RTO: 20 * time.Millisecond, LoggerFactory: slogFactory{log: testLog(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err = cl.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	return cl, relay, func() { _ = relay.Close(); cl.Close(); _ = conn.Close() }
}

// TestCreatePermissionRefused: a permission toward an address that is not
// the node is refused; one toward the node is granted.
func TestCreatePermissionRefused(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := startServer(t, testConfig(), nil, nil)
	defer srv.Close()
	cl, _, stop := turnClient(t, srv)
	defer stop()
	node := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7882}
	notNode := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 7882} // loopback, outside allow_restricted_peer_cidrs
	if err := cl.CreatePermission(node); err != nil {
		t.Fatalf("permission toward the node refused: %v", err)
	}
	before := srv.Stats().Refused
	// An error answer, not a timeout: the server refused.
	if err := cl.CreatePermission(notNode); err == nil || !strings.Contains(err.Error(), "error response") {
		t.Fatalf("permission toward 127.0.0.2: %v, want an error response", err)
	}
	if srv.Stats().Refused == before {
		t.Fatal("the policy did not count the refusal")
	}
}

// TestRelayReachesOnlyMediaPorts: with a permission for the node's IP, the
// relay delivers to the node's media port and drops what is sent to its
// other ports, both ways.
func TestRelayReachesOnlyMediaPorts(t *testing.T) {
	defer goleak.VerifyNone(t)
	mediaSock, otherSock := listenUDP(t), listenUDP(t)
	mediaPort := portOf(mediaSock.LocalAddr())
	srv := startServer(t, testConfig(), []PortRange{{mediaPort, mediaPort}}, nil)
	defer srv.Close()
	_, relay, stop := turnClient(t, srv)
	defer stop()

	// The forbidden port first: relaying is serial, so once the allowed
	// datagram has arrived the forbidden one would have too.
	if _, err := relay.WriteTo([]byte("to other port"), otherSock.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.WriteTo([]byte("to media port"), mediaSock.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got := readUDP(t, mediaSock, time.Second); got != "to media port" {
		t.Fatalf("media port got %q", got)
	}
	if got := readUDP(t, otherSock, 100*time.Millisecond); got != "" {
		t.Fatalf("a non-media port of the node got %q through the relay", got)
	}
	if srv.Stats().Refused == 0 {
		t.Fatal("the dropped datagram was not counted")
	}
	// Inbound: the other port's datagram is dropped, the media port's passes.
	relayAddr := relay.LocalAddr()
	_, _ = otherSock.WriteTo([]byte("from other port"), relayAddr)
	_, _ = mediaSock.WriteTo([]byte("from media port"), relayAddr)
	buf := make([]byte, 1500)
	_ = relay.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := relay.ReadFrom(buf)
	if err != nil {
		t.Fatalf("nothing came back through the relay: %v", err)
	}
	if got := string(buf[:n]); got != "from media port" || portOf(from) != mediaPort {
		t.Fatalf("client got %q from %v, want the media port's datagram", got, from)
	}
}

// readUDP returns the next datagram's text, or "" after d.
func readUDP(t *testing.T, c *net.UDPConn, d time.Duration) string {
	t.Helper()
	buf := make([]byte, 1500)
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return ""
		}
		t.Fatal(err)
	}
	return strings.TrimSpace(string(buf[:n]))
}
