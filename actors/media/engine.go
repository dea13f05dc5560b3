// This file holds the Engine: the node's ICE sockets and the two pion APIs
// (publisher and subscriber side) every PeerConnection is made from. Its
// fields are set once in NewEngine and read-only after; Close is the only
// other writer.

package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/pion/dtls/v2"
	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/webrtc/v3"
)

// Config holds the WebRTC engine settings. The zero value is usable for
// tests: a random UDP port on all interfaces.
type Config struct {
	// BindIP is the one IP the ICE UDP port(s) bind to; "" or an unspecified
	// address means every local address the filters keep, one socket each
	// (127.0.0.1 when LoopbackOnly).
	BindIP string
	// UDPPort is the UDP port PeerConnections share (ICE UDP mux); 0 picks a
	// free one.
	UDPPort int
	// UDPPortEnd, when above UDPPort, makes UDPPort..UDPPortEnd a range of
	// muxed ports; each new PeerConnection takes the next one in turn.
	UDPPortEnd int
	// PortRangeStart and PortRangeEnd, when both set, give every
	// PeerConnection its own UDP port from that range instead of a shared
	// mux (UDPPort and UDPPortEnd are then ignored).
	PortRangeStart, PortRangeEnd int
	// InterfacesInclude, when set, keeps only these interfaces (by name) for
	// listening and candidates; InterfacesExclude drops these.
	InterfacesInclude, InterfacesExclude []string
	// IPsInclude, when set, keeps only local addresses in these CIDRs (or
	// IPs); IPsExclude drops addresses in these.
	IPsInclude, IPsExclude []string
	// IncludeLoopback gathers loopback candidates as well as the others
	// (LiveKit's rtc.enable_loopback_candidate).
	IncludeLoopback bool
	// NodeIP, when set, replaces the IP of our host candidates (public address
	// of a node behind 1:1 NAT).
	NodeIP string
	// LoopbackOnly gathers only loopback UDP4 candidates: tests and --dev.
	// It overrides the interface and IP filters.
	LoopbackOnly bool
	// TCPPort enables a passive ICE-TCP listener on that port (the node
	// never dials clients' TCP candidates); 0 leaves it off.
	TCPPort int
	// FanoutWorkers is the number of writer goroutines per Receiver used once
	// a track has more than FanoutThreshold subscribers. 0 means
	// GOMAXPROCS clamped to [2, 8].
	FanoutWorkers int
	// FanoutThreshold is the subscriber count above which writes leave the
	// forwarder goroutine. 0 means 16; negative means never.
	FanoutThreshold int
	// PacketCacheSize is how many packets per layer are kept for NACKs,
	// rounded up to a power of two; 0 means 512.
	PacketCacheSize int
	// PacketCacheBytes caps the memory one layer's cache pins, whatever
	// PacketCacheSize says: each cached packet holds a whole pooled buffer
	// (about 1.6 KB, tiny packets included), so the count is lowered to the
	// largest power of two that fits. 0 means 1 MiB (512 packets).
	PacketCacheBytes int
	// SRTPGCMOnly offers only the AEAD-AES-GCM SRTP profiles. libwebrtc
	// (Chrome, Safari) prefers AES-CM whenever it is on offer, so this is
	// the only way browsers get GCM, at about half the SRTP CPU per packet;
	// clients with GCM disabled then fail the DTLS handshake.
	SRTPGCMOnly bool
	// BWE sets send-side bandwidth estimation on subscriber PCs
	// (rtc.congestion_control); on unless BWE.Disabled.
	BWE BWEConfig
}

// withDefaults fills the zero values so that the rest of the package can
// treat the fields as already decided.
func (c Config) withDefaults() Config {
	if c.FanoutWorkers <= 0 {
		c.FanoutWorkers = min(max(runtime.GOMAXPROCS(0), 2), 8)
	}
	if c.FanoutThreshold == 0 {
		c.FanoutThreshold = 16
	}
	if c.PacketCacheSize <= 0 {
		c.PacketCacheSize = 512
	}
	if c.PacketCacheBytes <= 0 {
		c.PacketCacheBytes = 1 << 20
	}
	return c
}

// Engine owns the sockets and pion API objects that all PeerConnections of a
// node share. There are two APIs because publisher and subscriber
// connections need different interceptor chains and header extensions, but
// both use the same SettingEngine and therefore the same UDP port.
type Engine struct {
	cfg Config
	log *slog.Logger

	udpMuxes []ice.UDPMux   // one per muxed port; none in the ephemeral mode
	udpAddrs []*net.UDPAddr // the addresses the muxes listen on
	tcpLn    net.Listener
	tcpMux   ice.TCPMux

	apis []apiPair    // one per muxed port (one in the ephemeral mode)
	next atomic.Int32 // spreads new PeerConnections over apis

	counters Counters

	// bwe builds the subscriber PCs' estimators; subMu makes PC creation
	// and taking the estimator it made one step. estimators maps each open
	// subscriber PC to its Estimator.
	bwe        *bweFactory
	subMu      sync.Mutex
	estimators sync.Map // *webrtc.PeerConnection → *Estimator

	closeOnce sync.Once
	closeErr  error
}

// NewEngine binds the ICE port(s) and builds the pion APIs. It fails only if a
// port cannot be bound or pion rejects the configuration.
func NewEngine(cfg Config, log *slog.Logger) (*Engine, error) {
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.withDefaults()
	e := &Engine{cfg: cfg, log: log}
	if err := e.listenAndBuild(); err != nil {
		_ = e.Close()
		return nil, err
	}
	log.Debug("media engine ready", "udp", e.udpAddrs, "udp_muxes", len(e.udpMuxes), "ephemeral_ports", cfg.ephemeral(),
		"tcp", cfg.TCPPort, "loopback_only", cfg.LoopbackOnly, "loopback", cfg.IncludeLoopback)
	return e, nil
}

// apiPair is the publisher and subscriber API of one SettingEngine.
type apiPair struct{ pub, sub *webrtc.API }

// listenAndBuild binds the ICE sockets and builds one API pair per muxed
// UDP port, all sharing the ICE-TCP mux.
func (e *Engine) listenAndBuild() error {
	bind, err := e.cfg.specificBind()
	if err != nil {
		return err
	}
	netTypes := e.udpNetworks(bind)
	if !e.cfg.ephemeral() {
		if err := e.listenUDPMuxes(bind, netTypes); err != nil {
			return err
		}
	}
	if e.cfg.TCPPort > 0 {
		bindIP := "0.0.0.0"
		if bind != nil {
			bindIP = bind.String()
		}
		if err := e.listenTCP(bindIP); err != nil {
			return err
		}
		netTypes = append(netTypes, tcpNetworks(netTypes)...)
	}
	if !e.cfg.BWE.Disabled {
		e.bwe = &bweFactory{cfg: e.cfg.BWE.withDefaults(), lf: pionLogs{log: e.log}}
	}
	muxes := e.udpMuxes
	if len(muxes) == 0 {
		muxes = []ice.UDPMux{nil}
	}
	for _, mux := range muxes {
		se, err := e.settingEngine(mux, bind)
		if err != nil {
			return err
		}
		if e.tcpMux != nil {
			se.SetICETCPMux(e.tcpMux)
			// Passive only: pion v3 dials every passive TCP candidate a client
			// offers (active ICE-TCP is on by default), so a client could make
			// the node open connections to any address it names. Clients dial
			// our listener instead.
			se.DisableActiveTCP(true)
		}
		se.SetNetworkTypes(netTypes)
		var p apiPair
		if p.pub, err = newAPI(se, rolePublisher, nil); err != nil {
			return err
		}
		if p.sub, err = newAPI(se, roleSubscriber, e.bwe); err != nil {
			return err
		}
		e.apis = append(e.apis, p)
	}
	return nil
}

// tcpNetworks are the ICE-TCP network types matching the UDP ones.
func tcpNetworks(udp []webrtc.NetworkType) []webrtc.NetworkType {
	var out []webrtc.NetworkType
	for _, n := range udp {
		if n == webrtc.NetworkTypeUDP4 {
			out = append(out, webrtc.NetworkTypeTCP4)
		} else if n == webrtc.NetworkTypeUDP6 {
			out = append(out, webrtc.NetworkTypeTCP6)
		}
	}
	return out
}

// listenTCP binds the ICE-TCP listener on the same IP as the UDP port.
func (e *Engine) listenTCP(bindIP string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(bindIP, fmt.Sprint(e.cfg.TCPPort)))
	if err != nil {
		return fmt.Errorf("media: listen ICE TCP %s:%d: %w", bindIP, e.cfg.TCPPort, err)
	}
	e.tcpLn = ln
	// Writes to one ICE-TCP connection go through a bounded buffer instead
	// of blocking on a full socket: a subscriber on a slow TCP path must not
	// stall the forwarder that writes to everyone. When the buffer is full
	// the write fails; a DownTrack failing for long is dropped (writeFailed).
	e.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{
		Listener:        ln,
		Logger:          pionLogs{log: e.log}.NewLogger("tcpmux"),
		ReadBufferSize:  tcpReadBufferPackets,
		WriteBufferSize: tcpWriteBufferBytes,
	})
	return nil
}

// ICE-TCP buffers per connection: packets queued for the ICE agent to read,
// and bytes queued for the socket (about 4 s of a 2 Mbit/s stream).
const (
	tcpReadBufferPackets = 32
	tcpWriteBufferBytes  = 1 << 20
)

// settingEngine builds the SettingEngine an API pair shares: the UDP mux, DTLS
// role and SRTP profiles, candidate filters and the NAT address. The caller
// adds ICE-TCP and the network types.
func (e *Engine) settingEngine(mux ice.UDPMux, bind net.IP) (webrtc.SettingEngine, error) {
	se := webrtc.SettingEngine{LoggerFactory: pionLogs{log: e.log}}
	if mux != nil {
		se.SetICEUDPMux(mux)
	}
	// mDNS would send multicast queries off the machine and hide our host
	// candidates behind .local names browsers cannot resolve towards a server.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// We are the DTLS server on both PCs: here by answering as server, on the
	// subscriber PC by offering actpass. The server announces the SRTP profile,
	// but pion's DTLS server takes the first profile of the *client's* list that
	// ours contains. pion clients list AEAD-GCM first and get it, which halves
	// SRTP CPU per packet (TestSRTPNegotiatesAESGCM). libwebrtc (Chrome, Safari,
	// native SDKs) lists AES-CM-SHA1-80 first whichever role it has and, as a
	// server, picks by its own order, so it gets AES-CM as long as we accept it
	// (measured in the browser suite); Config.SRTPGCMOnly withdraws AES-CM.
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return se, fmt.Errorf("media: answering DTLS role: %w", err)
	}
	profiles := []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AEAD_AES_256_GCM}
	if !e.cfg.SRTPGCMOnly {
		profiles = append(profiles, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	}
	se.SetSRTPProtectionProfiles(profiles...)
	if err := e.applyFilters(&se, bind); err != nil {
		return se, err
	}
	if m := e.cfg.natMappings(); len(m) > 0 {
		se.SetNAT1To1IPs(m, webrtc.ICECandidateTypeHost)
	}
	return se, nil
}

// newAPI builds the media engine and interceptor chain for one side.
//
// Publisher side (we receive): NACK generator so lost upstream packets are
// re-requested before they are forwarded, receiver/sender reports, and TWCC
// feedback which Chrome's congestion control needs to ramp up its send rate.
//
// Subscriber side (we send): sender reports, and with bwe transport-wide-cc
// stamping into a per-PC Estimator (bwe.go). There is deliberately no
// NACK responder: it would keep a private copy of every packet per
// subscriber; we answer NACKs from the publisher-side packet cache instead.
func newAPI(se webrtc.SettingEngine, r role, bwe *bweFactory) (*webrtc.API, error) {
	me, err := newMediaEngine(r, bwe != nil)
	if err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if r == rolePublisher {
		gen, err := nack.NewGeneratorInterceptor()
		if err != nil {
			return nil, fmt.Errorf("media: nack generator: %w", err)
		}
		ir.Add(gen)
		rr, err := report.NewReceiverInterceptor()
		if err != nil {
			return nil, fmt.Errorf("media: receiver reports: %w", err)
		}
		ir.Add(rr)
		tw, err := twcc.NewSenderInterceptor()
		if err != nil {
			return nil, fmt.Errorf("media: twcc: %w", err)
		}
		ir.Add(tw)
	}
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, fmt.Errorf("media: sender reports: %w", err)
	}
	ir.Add(sr)
	if bwe != nil {
		ir.Add(bwe) // last: outermost, so it stamps before the others see the packet
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir)), nil
}

// NewPublisherPC creates a PeerConnection that receives a participant's media.
// Full ICE (not lite): browsers behind NAT need us to send checks too.
func (e *Engine) NewPublisherPC() (*webrtc.PeerConnection, error) {
	pc, err := e.pick().pub.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("media: new publisher pc: %w", err)
	}
	return pc, nil
}

// NewSubscriberPC creates a PeerConnection that sends media to a participant.
// With bandwidth estimation on, SubscriberEstimator(pc) is its Estimator.
func (e *Engine) NewSubscriberPC() (*webrtc.PeerConnection, error) {
	if e.bwe == nil {
		pc, err := e.pick().sub.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return nil, fmt.Errorf("media: new subscriber pc: %w", err)
		}
		return pc, nil
	}
	e.subMu.Lock()
	defer e.subMu.Unlock()
	pc, err := e.pick().sub.NewPeerConnection(webrtc.Configuration{})
	est := e.bwe.take()
	if err != nil {
		if est != nil {
			_ = est.Close()
		}
		return nil, fmt.Errorf("media: new subscriber pc: %w", err)
	}
	if est != nil {
		unregister := func() { e.estimators.Delete(pc) }
		est.onClose.Store(&unregister)
		e.estimators.Store(pc, est)
	}
	return pc, nil
}

// pick returns the API pair of the next muxed port, in turn.
func (e *Engine) pick() apiPair {
	i := int(e.next.Add(1)-1) % len(e.apis)
	return e.apis[i]
}

// SubscriberEstimator is the bandwidth Estimator of a subscriber PC made by
// NewSubscriberPC, nil when estimation is off or the PC is closed.
func (e *Engine) SubscriberEstimator(pc *webrtc.PeerConnection) *Estimator {
	if v, ok := e.estimators.Load(pc); ok {
		return v.(*Estimator)
	}
	return nil
}

// UDPAddr is the address the (first) ICE UDP mux is bound to (useful when
// Config.UDPPort was 0): the one bind IP, else the unspecified address with
// the port. In the ephemeral mode, where every PeerConnection binds its own
// port, the port is 0.
func (e *Engine) UDPAddr() *net.UDPAddr {
	bind, _ := e.cfg.specificBind()
	if bind == nil {
		bind = net.IPv4zero
	}
	if len(e.udpAddrs) == 0 {
		return &net.UDPAddr{IP: bind}
	}
	return &net.UDPAddr{IP: bind, Port: e.udpAddrs[0].Port}
}

// UDPAddrs are every address the ICE UDP muxes listen on, one per local
// address and port; none in the ephemeral mode.
func (e *Engine) UDPAddrs() []*net.UDPAddr { return append([]*net.UDPAddr(nil), e.udpAddrs...) }

// NewReceiver is NewReceiver with the fan-out and cache settings of this
// engine filled in where opts leaves them zero.
func (e *Engine) NewReceiver(opts ReceiverOptions) *Receiver {
	if opts.FanoutWorkers == 0 {
		opts.FanoutWorkers = e.cfg.FanoutWorkers
	}
	if opts.FanoutThreshold == 0 {
		opts.FanoutThreshold = e.cfg.FanoutThreshold
	}
	if opts.PacketCacheSize == 0 {
		opts.PacketCacheSize = e.cfg.PacketCacheSize
	}
	if opts.PacketCacheBytes == 0 {
		opts.PacketCacheBytes = e.cfg.PacketCacheBytes
	}
	if opts.Log == nil {
		opts.Log = e.log
	}
	if opts.Counters == nil {
		opts.Counters = &e.counters
	}
	return NewReceiver(opts)
}

// Counters are the node-wide packet counters of every receiver made by
// NewReceiver and of their DownTracks.
func (e *Engine) Counters() *Counters { return &e.counters }

// Close releases the ICE sockets. PeerConnections should be closed first;
// the ones still open lose connectivity.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		var errs []error
		for _, m := range e.udpMuxes {
			errs = append(errs, m.Close())
		}
		if e.tcpMux != nil {
			errs = append(errs, e.tcpMux.Close())
		} else if e.tcpLn != nil {
			errs = append(errs, e.tcpLn.Close())
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}
