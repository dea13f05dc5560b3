package turn

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pion/stun"
	"go.uber.org/goleak"
)

// fakeSTUN answers Binding requests on loopback with a fixed mapped
// address, as a STUN server outside a 1:1 NAT would; the first drop
// requests go unanswered (lost datagrams).
func fakeSTUN(t *testing.T, mapped net.IP, drop int) (addr string, stop func()) {
	t.Helper()
	conn := listenUDP(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for seen := 0; ; seen++ {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil || req.Type != stun.BindingRequest || seen < drop {
				continue
			}
			res := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
				&stun.XORMappedAddress{IP: mapped, Port: from.Port}, stun.Fingerprint)
			_, _ = conn.WriteToUDP(res.Raw, from)
		}
	}()
	return conn.LocalAddr().String(), func() { _ = conn.Close(); <-done }
}

func TestExternalIPFromSTUN(t *testing.T) {
	defer goleak.VerifyNone(t)
	public := net.ParseIP("203.0.113.9") // what the test's STUN server reports
	good, stopGood := fakeSTUN(t, public, 2)
	defer stopGood()
	silent := listenUDP(t) // a STUN server that never answers
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ip, err := ExternalIP(ctx, []string{"stun:" + silent.LocalAddr().String(), good}, "127.0.0.1", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if !ip.Equal(public) {
		t.Fatalf("external IP %v, want the reported %v", ip, public)
	}
	_, err = ExternalIP(ctx, []string{silent.LocalAddr().String()}, "127.0.0.1", testLog(t))
	if !errors.Is(err, ErrNoExternalIP) {
		t.Fatalf("only a silent server: %v, want ErrNoExternalIP", err)
	}
	if _, err := ExternalIP(ctx, nil, "", testLog(t)); !errors.Is(err, ErrNoExternalIP) {
		t.Fatalf("no servers: %v", err)
	}
}

// TestExternalIPFromEmbeddedTURN: our own TURN server answers STUN Binding
// requests too, with the address the request came from.
func TestExternalIPFromEmbeddedTURN(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := startServer(t, testConfig(), nil, nil)
	defer srv.Close()
	udp, _, _ := srv.Ports()
	ip, err := ExternalIP(context.Background(), []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(udp))}, "127.0.0.1", testLog(t))
	if err != nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("ExternalIP via the embedded server = %v, %v; want 127.0.0.1", ip, err)
	}
}
