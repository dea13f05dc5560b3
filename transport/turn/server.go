package turn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	pionturn "github.com/pion/turn/v2"
)

// Options are what the node knows beyond the `turn:` section.
type Options struct {
	// Keys verifies usernames: the API key inside names the secret.
	Keys SecretLookup
	// APIKey and APISecret mint credentials (LiveKit uses the first
	// configured key pair).
	APIKey, APISecret string
	// NodeIPs are the node's advertised addresses (rtc.node_ip, or the
	// addresses ICE advertises). The first is the relay address; all appear
	// in the turn: URLs; the relay may reach only these (PeerPolicy).
	NodeIPs []string
	// MediaPorts are the node's ICE UDP ports; the relay sends nowhere else
	// on the node's IPs. Empty allows any port.
	MediaPorts []PortRange
	// SessionActive, when set, is asked before a credential creates its
	// first allocation: false refuses credentials of a session that ended.
	// It runs on a TURN read loop and must not block.
	SessionActive func(participantSID string) bool
	// EphemeralPorts binds every enabled listener to a free port instead of
	// the configured one, and advertises the bound ports (tests).
	EphemeralPorts bool
	Log            *slog.Logger
}

// Server is a running embedded TURN server.
type Server struct {
	cfg    Config
	opts   Options
	minter Minter
	policy *PeerPolicy
	auth   *authenticator
	log    *slog.Logger

	nodeIPs   []net.IP
	packet    []pionturn.PacketConnConfig
	streams   []*streamListener
	udpPort   int
	tcpPort   int
	tlsPort   int
	pion      *pionturn.Server
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, binds the enabled listeners (TURN/UDP, TURN/TCP,
// TURN/TLS or plain TCP behind external_tls) and starts serving.
func New(cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &Server{cfg: cfg, opts: opts, log: opts.Log.With("component", "turn")}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	if err := s.listen(); err != nil {
		s.closeSockets()
		return nil, err
	}
	if len(s.packet) > 0 {
		srv, err := s.newPionServer(s.packet)
		if err != nil {
			s.closeSockets()
			return nil, err
		}
		s.pion = srv
	}
	s.log.Info("turn server started", "udp", s.udpPort, "tcp", s.tcpPort, "tls", s.tlsPort,
		"external_tls", cfg.ExternalTLS, "relay_ip", s.nodeIPs[0].String(),
		"relay_ports", fmt.Sprintf("%d-%d", cfg.RelayRangeStart, cfg.RelayRangeEnd))
	return s, nil
}

// newPionServer starts a pion server on the given packet listeners.
func (s *Server) newPionServer(pcs []pionturn.PacketConnConfig) (*pionturn.Server, error) {
	srv, err := pionturn.NewServer(pionturn.ServerConfig{
		PacketConnConfigs: pcs,
		LoggerFactory:     slogFactory{log: s.log},
		Realm:             Realm,
		AuthHandler:       s.auth.handle,
	})
	if err != nil {
		return nil, fmt.Errorf("turn: start: %w", err)
	}
	return srv, nil
}

// prepare builds the minter, the authenticator and the relay policy.
func (s *Server) prepare() error {
	if s.opts.APIKey == "" || s.opts.APISecret == "" || s.opts.Keys == nil {
		return ErrNoKey
	}
	for _, a := range s.opts.NodeIPs {
		ip := net.ParseIP(a)
		if ip == nil {
			return fmt.Errorf("turn: invalid node IP %q", a)
		}
		s.nodeIPs = append(s.nodeIPs, ip)
	}
	if len(s.nodeIPs) == 0 {
		return ErrNoNodeIP
	}
	s.minter = Minter{APIKey: s.opts.APIKey, APISecret: s.opts.APISecret, TTL: s.cfg.TTL()}
	s.auth = newAuthenticator(s.opts.Keys, s.opts.SessionActive, s.log)
	p, err := NewPeerPolicy(s.nodeIPs, s.opts.MediaPorts, s.cfg.AllowRestrictedPeerCIDRs, s.cfg.DenyPeerCIDRs, s.log)
	if err != nil {
		return fmt.Errorf("turn: peer policy: %w", err)
	}
	s.policy = p
	return nil
}

// port is the port to bind for a configured one.
func (s *Server) port(configured int) int {
	if s.opts.EphemeralPorts {
		return 0
	}
	return configured
}

// listen binds the enabled listeners on every bind address.
func (s *Server) listen() error {
	gen, err := s.relayGenerator()
	if err != nil {
		return err
	}
	var tlsConf *tls.Config
	if s.cfg.TLSPort > 0 && !s.cfg.ExternalTLS {
		cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
		if err != nil {
			return fmt.Errorf("turn: load certificate: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	for _, addr := range s.cfg.BindAddresses {
		if err := s.listenOn(addr, gen, tlsConf); err != nil {
			return err
		}
	}
	return nil
}

// listenOn binds the enabled listeners on one address.
func (s *Server) listenOn(addr string, gen pionturn.RelayAddressGenerator, tlsConf *tls.Config) error {
	if s.cfg.UDPPort > 0 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(addr, strconv.Itoa(s.port(s.cfg.UDPPort))))
		if err != nil {
			return fmt.Errorf("turn: listen udp %s:%d: %w", addr, s.cfg.UDPPort, err)
		}
		s.packet = append(s.packet, pionturn.PacketConnConfig{PacketConn: pc, RelayAddressGenerator: gen, PermissionHandler: s.policy.AllowIP})
		setOnce(&s.udpPort, pc.LocalAddr())
	}
	if s.cfg.TCPPort > 0 {
		ln, err := s.listenTCP(addr, s.cfg.TCPPort, gen, nil)
		if err != nil {
			return err
		}
		setOnce(&s.tcpPort, ln.Addr())
	}
	if s.cfg.TLSPort > 0 {
		ln, err := s.listenTCP(addr, s.cfg.TLSPort, gen, tlsConf)
		if err != nil {
			return err
		}
		setOnce(&s.tlsPort, ln.Addr())
	}
	return nil
}

// listenTCP binds one TCP listener, TLS when tlsConf is set.
func (s *Server) listenTCP(addr string, port int, gen pionturn.RelayAddressGenerator, tlsConf *tls.Config) (net.Listener, error) {
	raw, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(s.port(port))))
	if err != nil {
		return nil, fmt.Errorf("turn: listen tcp %s:%d: %w", addr, port, err)
	}
	newServer := func(pc net.PacketConn) (*pionturn.Server, error) {
		return s.newPionServer([]pionturn.PacketConnConfig{{PacketConn: pc, RelayAddressGenerator: gen, PermissionHandler: s.policy.AllowIP}})
	}
	s.streams = append(s.streams, newStreamListener(newTrackedListener(raw, s.log), tlsConf, newServer, s.log))
	return raw, nil
}

// setOnce records the first bound port of a kind.
func setOnce(dst *int, a net.Addr) {
	if *dst != 0 {
		return
	}
	switch v := a.(type) {
	case *net.UDPAddr:
		*dst = v.Port
	case *net.TCPAddr:
		*dst = v.Port
	}
}

// relayGenerator opens relay sockets in the relay range, advertised at the
// first node IP, each behind the peer policy. It is shared by the UDP
// server and every TCP/TLS connection's server, so it is validated (which
// fills its lazy fields) once here; pion's later Validate calls only read.
func (s *Server) relayGenerator() (pionturn.RelayAddressGenerator, error) {
	bind := "0.0.0.0"
	if len(s.cfg.BindAddresses) == 1 {
		bind = s.cfg.BindAddresses[0]
	}
	g := &policedGenerator{
		RelayAddressGeneratorPortRange: pionturn.RelayAddressGeneratorPortRange{
			RelayAddress: s.nodeIPs[0],
			MinPort:      uint16(s.cfg.RelayRangeStart),
			MaxPort:      uint16(s.cfg.RelayRangeEnd),
			MaxRetries:   30,
			Address:      bind,
		},
		policy: s.policy,
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("turn: relay range: %w", err)
	}
	return g, nil
}

// policedGenerator wraps every relay socket in a policedConn.
type policedGenerator struct {
	pionturn.RelayAddressGeneratorPortRange
	policy *PeerPolicy
}

// AllocatePacketConn opens a relay socket that only talks to allowed peers.
func (g *policedGenerator) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	pc, addr, err := g.RelayAddressGeneratorPortRange.AllocatePacketConn(network, requestedPort)
	if err != nil {
		return nil, nil, fmt.Errorf("turn: relay socket: %w", err)
	}
	return &policedConn{PacketConn: pc, policy: g.policy}, addr, nil
}

// Credentials mints fresh credentials for a participant session.
func (s *Server) Credentials(participantSID string) Credentials {
	return s.minter.Mint(participantSID, time.Now())
}

// Policy is the relay policy in force.
func (s *Server) Policy() *PeerPolicy { return s.policy }

// Ports are the bound TURN/UDP, TURN/TCP and TURN/TLS ports (0: off).
func (s *Server) Ports() (udp, tcp, tls int) { return s.udpPort, s.tcpPort, s.tlsPort }

// AllocationCount is the number of live allocations.
func (s *Server) AllocationCount() int {
	n := 0
	if s.pion != nil {
		n = s.pion.AllocationCount()
	}
	for _, l := range s.streams {
		n += l.allocations()
	}
	return n
}

// Stats are the server's figures for metrics and /debug.
type Stats struct {
	// Allocations is the number of live relay allocations.
	Allocations int
	// Connections is the number of open TURN/TCP and TURN/TLS connections.
	Connections int
	// Refused counts permissions and relayed datagrams the policy refused.
	Refused uint64
}

// Stats returns the current figures.
func (s *Server) Stats() Stats {
	st := Stats{Allocations: s.AllocationCount(), Refused: s.policy.Refused()}
	for _, l := range s.streams {
		st.Connections += l.tl.open()
	}
	return st
}

// Close stops the listeners, the connections accepted on them and every
// allocation. pion's goroutines end shortly after it returns.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.pion != nil {
			s.closeErr = s.pion.Close()
		}
		s.closeSockets()
	})
	return s.closeErr
}

// closeSockets closes what listen bound (again, harmlessly, after pion).
func (s *Server) closeSockets() {
	var errs []error
	for _, p := range s.packet {
		if err := p.PacketConn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, l := range s.streams {
		errs = append(errs, l.Close())
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Debug("turn: close", "err", err)
	}
}
