package turn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/pion/stun"
)

// stunAttempt is how long one STUN server gets to answer, and stunRetry
// the interval between retransmissions to it.
const (
	stunAttempt = 2 * time.Second
	stunRetry   = 400 * time.Millisecond
)

// LiveKitSTUNServers are the public STUN servers LiveKit falls back to
// when rtc.stun_servers is empty (PROTOCOL.md §12.2). We never hand them to
// clients; whether use_external_ip may ask them when nothing is configured
// is the caller's decision.
var LiveKitSTUNServers = []string{"global.stun.twilio.com:3478", "stun.l.google.com:19302", "stun1.l.google.com:19302"}

// ErrNoExternalIP means no STUN server reported an address.
var ErrNoExternalIP = errors.New("turn: no STUN server reported an external IP")

// ExternalIP implements rtc.use_external_ip: it asks the STUN servers
// (host:port, "stun:" prefix allowed), one after the other, for the address
// a datagram sent from localIP ("" for any) arrives from, and returns the
// first one reported. The node then advertises it as its NAT 1:1 address.
// It logs which server answered, or why each failed.
func ExternalIP(ctx context.Context, servers []string, localIP string, log *slog.Logger) (net.IP, error) {
	if log == nil {
		log = slog.Default()
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("%w: rtc.stun_servers is empty", ErrNoExternalIP)
	}
	var errs []error
	for _, s := range servers {
		addr := strings.TrimPrefix(s, "stun:")
		ip, err := askSTUN(ctx, addr, localIP)
		if err == nil {
			log.Info("external IP discovered", "ip", ip.String(), "stun_server", addr)
			return ip, nil
		}
		log.Warn("external IP: STUN server failed", "stun_server", addr, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %w", ErrNoExternalIP, errors.Join(errs...))
}

// askSTUN sends Binding requests to one server until it answers, the
// attempt times out or ctx ends.
func askSTUN(ctx context.Context, server, localIP string) (net.IP, error) {
	raddr, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(localIP)})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(stunAttempt)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := conn.WriteToUDP(req.Raw, raddr); err != nil {
			return nil, fmt.Errorf("send: %w", err)
		}
		_ = conn.SetReadDeadline(minTime(deadline, time.Now().Add(stunRetry)))
		ip, err := readBinding(conn, buf, raddr, req.TransactionID)
		if err == nil {
			return ip, nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return nil, err
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, errors.New("no answer")
}

// readBinding reads until the answer to tid arrives from the server, or the
// read deadline passes.
func readBinding(conn *net.UDPConn, buf []byte, server *net.UDPAddr, tid [stun.TransactionIDSize]byte) (net.IP, error) {
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return nil, err
		}
		if !from.IP.Equal(server.IP) || from.Port != server.Port {
			continue
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() != nil || m.TransactionID != tid {
			continue
		}
		if m.Type != stun.BindingSuccess {
			return nil, fmt.Errorf("answer %v", m.Type)
		}
		var xor stun.XORMappedAddress
		if err := xor.GetFrom(m); err == nil {
			return xor.IP, nil
		}
		var mapped stun.MappedAddress
		if err := mapped.GetFrom(m); err == nil {
			return mapped.IP, nil
		}
		return nil, errors.New("answer carries no mapped address")
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
