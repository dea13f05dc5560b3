package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun"
	pionturn "github.com/pion/turn/v2"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
	"github.com/actor-sfu/livekit-server/transport/turn"
)

// turnYAML has every LiveKit turn: key and both kinds of rtc.turn_servers entries.
const turnYAML = `keys:
  APIk: some-long-secret-some-long-secret-00
rtc:
  turn_servers:
    - host: turn.example.com
      port: 3478
      protocol: udp
      username: alice
      credential: pw
    - host: turn.example.com
      port: 443
      protocol: tls
      secret: shared
      ttl: 600
turn:
  enabled: true
  domain: turn.example.com
  cert_file: /etc/turn/cert.pem
  key_file: /etc/turn/key.pem
  tls_port: 5349
  udp_port: 3478
  tcp_port: 3479
  external_tls: false
  relay_range_start: 31000
  relay_range_end: 32000
  bind_addresses: [10.0.0.5]
  ttl_seconds: 120
  allow_restricted_peer_cidrs: [10.0.0.0/8]
  deny_peer_cidrs: [10.9.0.0/16]
`

// turn: and rtc.turn_servers parse into the TURN package's configs, draw no warning, and are
// validated at load: a bad section is refused with what is wrong.
func TestTURNConfigKeys(t *testing.T) {
	ld, err := loadConfig(nil, env(map[string]string{"LIVEKIT_CONFIG": turnYAML}), files(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(ld.warnings) != 0 {
		t.Errorf("warnings for supported keys: %v", ld.warnings)
	}
	want := turn.Config{Enabled: true, Domain: "turn.example.com", CertFile: "/etc/turn/cert.pem", KeyFile: "/etc/turn/key.pem",
		TLSPort: 5349, UDPPort: 3478, TCPPort: 3479, RelayRangeStart: 31000, RelayRangeEnd: 32000,
		BindAddresses: []string{"10.0.0.5"}, TTLSeconds: 120, AllowRestrictedPeerCIDRs: []string{"10.0.0.0/8"}, DenyPeerCIDRs: []string{"10.9.0.0/16"}}
	if got := fmt.Sprintf("%+v", ld.cfg.TURN); got != fmt.Sprintf("%+v", want) {
		t.Errorf("turn: = %s\nwant    %+v", got, want)
	}
	ts := ld.cfg.RTC.TURNServers
	if len(ts) != 2 || ts[0].Username != "alice" || ts[0].Credential != "pw" || ts[1].Protocol != "tls" || ts[1].Secret != "shared" || ts[1].TTL != 600 {
		t.Errorf("rtc.turn_servers = %+v", ts)
	}
	if !ld.cfg.needsProvider() {
		t.Error("turn.enabled does not start the provider")
	}
	for _, bad := range []struct{ yaml, want string }{
		{"turn:\n  enabled: true\n", "udp_port, tcp_port and tls_port are all 0"},
		{"turn:\n  enabled: true\n  tls_port: 5349\n", "tls_port needs domain"},
		{"turn:\n  enabled: true\n  udp_port: 3478\n  relay_range_start: 40000\n  relay_range_end: 30000\n", "40000-30000"},
		{"turn:\n  enabled: true\n  udp_port: 3478\n  allow_restricted_peer_cidrs: [nope]\n", "allow_restricted_peer_cidrs"},
		{"rtc:\n  turn_servers:\n    - host: t.example.com\n      port: 3478\n      protocol: sctp\n      secret: s\n", "rtc.turn_servers[0]"},
		{"rtc:\n  turn_servers:\n    - port: 3478\n      secret: s\n", "host and port are required"},
	} {
		body := "keys:\n  APIk: some-long-secret-some-long-secret-00\n" + bad.yaml
		if _, err := loadConfig(nil, env(map[string]string{"LIVEKIT_CONFIG": body}), files(nil), io.Discard); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err = %v, want %q", bad.yaml, err, bad.want)
		}
	}
	// A disabled section is not checked (LiveKit's sample has tls_port without certificates).
	if _, err := loadConfig(nil, env(map[string]string{"LIVEKIT_CONFIG": "keys:\n  a: b\nturn:\n  tls_port: 5349\n"}), files(nil), io.Discard); err != nil {
		t.Errorf("disabled turn: refused: %v", err)
	}
}

// ICE/TCP is on at LiveKit's 7881 outside --dev, off with --dev, and --tcp-port sets it.
func TestTCPPortDefault(t *testing.T) {
	keys := env(map[string]string{"LIVEKIT_KEYS": "k: some-long-secret-some-long-secret-00"})
	for _, c := range []struct {
		args []string
		want int
	}{
		{nil, 7881},
		{[]string{"--dev"}, 0},
		{[]string{"--tcp-port", "7999"}, 7999},
		{[]string{"--dev", "--tcp-port", "7999"}, 7999},
		{[]string{"--tcp-port", "0"}, 0},
		{[]string{"--dev", "--config-body", "rtc:\n  tcp_port: 7998\n"}, 7998},
	} {
		ld, err := loadConfig(c.args, keys, files(nil), io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := ld.cfg.nodeConfig(version, nil).Media.TCPPort; got != c.want {
			t.Errorf("%v: media TCP port %d, want %d", c.args, got, c.want)
		}
	}
	if _, err := loadConfig([]string{"--tcp-port", "70000"}, keys, files(nil), io.Discard); err == nil {
		t.Error("--tcp-port 70000 accepted")
	}
}

// stunResponder answers Binding requests on loopback with mapped as the address they came from.
func stunResponder(t *testing.T, mapped net.IP) string {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { _ = conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil || req.Type != stun.BindingRequest {
				continue
			}
			res := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
				&stun.XORMappedAddress{IP: mapped, Port: from.Port}, stun.Fingerprint)
			_, _ = conn.WriteToUDP(res.Raw, from)
		}
	}()
	return conn.LocalAddr().String()
}

// rtc.use_external_ip advertises what the STUN servers report (rtc.node_ip wins when set); when
// none answers, the node keeps its local addresses.
func TestUseExternalIP(t *testing.T) {
	public := "203.0.113.9"
	stunAddr := stunResponder(t, net.ParseIP(public))
	silent := freePort(t, "udp") // nothing answers there
	log := slog.New(slog.DiscardHandler)

	cfg := Config{RTC: RTCConfig{UseExternalIP: true, STUNServers: []string{"127.0.0.1:" + strconv.Itoa(silent), stunAddr}}}
	resolveExternalIP(context.Background(), &cfg, log)
	if cfg.RTC.NodeIP != public {
		t.Fatalf("node_ip %q, want %s from the second STUN server", cfg.RTC.NodeIP, public)
	}
	if got := cfg.nodeConfig(version, nil).Media.NodeIP; got != public {
		t.Errorf("media NodeIP %q, want %s advertised", got, public)
	}
	if got := cfg.turnNodeIPs(); !slices.Equal(got, []string{public}) {
		t.Errorf("TURN node IPs %v, want [%s]", got, public)
	}

	cfg = Config{RTC: RTCConfig{UseExternalIP: true, NodeIP: "198.51.100.1", STUNServers: []string{stunAddr}}}
	resolveExternalIP(context.Background(), &cfg, log)
	if cfg.RTC.NodeIP != "198.51.100.1" {
		t.Errorf("rtc.node_ip replaced by discovery: %q", cfg.RTC.NodeIP)
	}

	cfg = Config{RTC: RTCConfig{UseExternalIP: true, STUNServers: []string{"127.0.0.1:" + strconv.Itoa(silent)}}}
	resolveExternalIP(context.Background(), &cfg, log)
	if cfg.RTC.NodeIP != "" {
		t.Errorf("failed discovery set node_ip %q", cfg.RTC.NodeIP)
	}
}

// turnNodeConfig is a LiveKit config with the embedded TURN server on (UDP, TCP, and TLS behind
// a terminating load balancer) and a REST-credential TURN server, every port free on 127.0.0.1.
const turnNodeConfig = `port: %d
bind_addresses: [127.0.0.1]
keys:
  %s: %s
logging:
  level: warn
rtc:
  udp_port: %d
  tcp_port: %d
  enable_loopback_candidate: true
  turn_servers:
    - host: turn.example.com
      port: 443
      protocol: tls
      secret: rest-secret
turn:
  enabled: true
  domain: localhost
  udp_port: %d
  tcp_port: %d
  tls_port: %d
  external_tls: true
  bind_addresses: [127.0.0.1]
  allow_restricted_peer_cidrs: [127.0.0.1/32]
`

// A LiveKit config with turn: enabled starts the node with the TURN server; a participant's
// JoinResponse carries turn: URLs with credentials minted for it, which the server accepts for
// an allocation, plus the rtc.turn_servers entry; stopping the node frees every port.
func TestLiveKitConfigWithTURN(t *testing.T) {
	port, udpPort, tcpPort := freePort(t, "tcp"), freePort(t, "udp"), freePort(t, "tcp")
	turnUDP, turnTCP, turnTLS := freePort(t, "udp"), freePort(t, "tcp"), freePort(t, "tcp")
	body := fmt.Sprintf(turnNodeConfig, port, e2eKey, e2eSecret, udpPort, tcpPort, turnUDP, turnTCP, turnTLS)
	cfgPath := filepath.Join(t.TempDir(), "livekit.yaml")
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ld, err := loadConfig([]string{"--config", cfgPath}, env(nil), os.ReadFile, io.Discard)
	if err != nil {
		t.Fatalf("config refused: %v", err)
	}
	for _, w := range ld.warnings {
		if strings.Contains(w, "turn") || strings.Contains(w, "not supported") || strings.Contains(w, "not a known key") {
			t.Errorf("warning: %s", w)
		}
	}
	ctx, stopNode := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, func() {}, ld, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopNode()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	defer stop()
	waitHealthy(t, fmt.Sprintf("http://127.0.0.1:%d", port))

	joinCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := auth.NewAccessToken(e2eKey, e2eSecret).SetIdentity("alice").
		SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: "turn"}).SetValidFor(time.Hour).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	alice, err := testkit.Join(joinCtx, fmt.Sprintf("ws://127.0.0.1:%d", port), tok, lkclient.Options{})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	defer alice.Close()
	servers := alice.JoinResponse().GetIceServers()
	if len(servers) != 2 {
		t.Fatalf("ice_servers %v, want the embedded TURN server and rtc.turn_servers", servers)
	}
	embedded, external := servers[0], servers[1]
	wantURLs := []string{
		fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", turnUDP),
		fmt.Sprintf("turn:127.0.0.1:%d?transport=tcp", turnTCP),
		"turns:localhost:443?transport=tcp", // the load balancer's port, as LiveKit writes it
	}
	if !slices.Equal(embedded.GetUrls(), wantURLs) || embedded.GetUsername() == "" || embedded.GetCredential() == "" {
		t.Errorf("embedded TURN entry %v, want %v with credentials", embedded, wantURLs)
	}
	if !slices.Equal(external.GetUrls(), []string{"turns:turn.example.com:443?transport=tcp"}) ||
		!strings.HasSuffix(external.GetUsername(), ":"+alice.SID()) || external.GetCredential() == "" {
		t.Errorf("rtc.turn_servers entry %v, want REST credentials for %s", external, alice.SID())
	}
	allocate(t, turnUDP, embedded)
	if _, err := tryAllocate(turnUDP, &livekit.ICEServer{Username: embedded.GetUsername(), Credential: "wrong"}); err == nil {
		t.Error("allocation with a wrong credential accepted")
	}
	alice.Close()
	stop()
	for _, p := range []struct {
		network string
		port    int
	}{{"udp", turnUDP}, {"tcp", turnTCP}, {"tcp", turnTLS}, {"tcp", tcpPort}, {"udp", udpPort}, {"tcp", port}} {
		if err := bindable(p.network, p.port); err != nil {
			t.Errorf("%s port %d still in use after stop: %v", p.network, p.port, err)
		}
	}
}

// allocate makes a TURN/UDP allocation on port with the entry's credentials.
func allocate(t *testing.T, port int, s *livekit.ICEServer) {
	t.Helper()
	relay, err := tryAllocate(port, s)
	if err != nil {
		t.Fatalf("TURN server refused the JoinResponse's credentials: %v", err)
	}
	if a, ok := relay.(*net.UDPAddr); !ok || !a.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("relayed address %v, want one on the node IP 127.0.0.1", relay)
	}
}

// tryAllocate returns the relayed address of an allocation on 127.0.0.1:port, then releases it.
func tryAllocate(port int, s *livekit.ICEServer) (net.Addr, error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	cl, err := pionturn.NewClient(&pionturn.ClientConfig{
		TURNServerAddr: "127.0.0.1:" + strconv.Itoa(port), Conn: conn,
		Username: s.GetUsername(), Password: s.GetCredential(), Realm: turn.Realm, RTO: 50 * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		return nil, err
	}
	relay, err := cl.Allocate()
	if err != nil {
		return nil, err
	}
	defer relay.Close()
	return relay.LocalAddr(), nil
}

// bindable reports whether port on 127.0.0.1 can be bound again.
func bindable(network string, port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if network == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err == nil {
		_ = l.Close()
	}
	return err
}

// The node warns when its own address is one the relay refuses unless allowed.
func TestRestrictedNodeIPs(t *testing.T) {
	got := restrictedNodeIPs([]string{"127.0.0.1", "10.1.2.3", "192.168.1.5", "203.0.113.7"}, []string{"10.0.0.0/8", "192.168.1.5"})
	if !slices.Equal(got, []string{"127.0.0.1"}) {
		t.Errorf("restricted node IPs %v, want [127.0.0.1]", got)
	}
}
