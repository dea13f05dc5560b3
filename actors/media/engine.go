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
	// BindIP is the IP the single ICE UDP port binds to; "" means 0.0.0.0
	// (127.0.0.1 when LoopbackOnly).
	BindIP string
	// UDPPort is the one UDP port every PeerConnection shares; 0 picks a free one.
	UDPPort int
	// NodeIP, when set, replaces the IP of our host candidates (public address
	// of a node behind 1:1 NAT).
	NodeIP string
	// LoopbackOnly gathers only loopback UDP4 candidates: tests and --dev.
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

	udpConn net.PacketConn
	udpMux  ice.UDPMux
	tcpLn   net.Listener
	tcpMux  ice.TCPMux

	pubAPI *webrtc.API
	subAPI *webrtc.API

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
	bindIP, netw, err := e.listenUDP()
	if err != nil {
		return nil, err
	}
	se, err := e.settingEngine()
	if err != nil {
		_ = e.Close()
		return nil, err
	}
	netTypes := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if netw == "udp6" {
		netTypes = []webrtc.NetworkType{webrtc.NetworkTypeUDP6}
	}
	if cfg.TCPPort > 0 {
		if err := e.listenTCP(bindIP); err != nil {
			_ = e.Close()
			return nil, err
		}
		se.SetICETCPMux(e.tcpMux)
		// Passive only: pion v3 dials every passive TCP candidate a client
		// offers (active ICE-TCP is on by default), so a client could make
		// the node open connections to any address it names. Clients dial
		// our listener instead.
		se.DisableActiveTCP(true)
		if netw == "udp6" {
			netTypes = append(netTypes, webrtc.NetworkTypeTCP6)
		} else {
			netTypes = append(netTypes, webrtc.NetworkTypeTCP4)
		}
	}
	se.SetNetworkTypes(netTypes)
	if !cfg.BWE.Disabled {
		e.bwe = &bweFactory{cfg: cfg.BWE.withDefaults(), lf: pionLogs{log: e.log}}
	}
	if e.pubAPI, err = newAPI(se, rolePublisher, nil); err != nil {
		_ = e.Close()
		return nil, err
	}
	if e.subAPI, err = newAPI(se, roleSubscriber, e.bwe); err != nil {
		_ = e.Close()
		return nil, err
	}
	log.Debug("media engine ready", "udp", e.udpConn.LocalAddr().String(), "tcp", cfg.TCPPort, "loopback_only", cfg.LoopbackOnly)
	return e, nil
}

// listenUDP binds the one ICE UDP port every PeerConnection shares and
// returns the IP it bound to and its network ("udp4" or "udp6").
func (e *Engine) listenUDP() (bindIP, netw string, err error) {
	bindIP = e.cfg.BindIP
	if bindIP == "" {
		bindIP = "0.0.0.0"
		if e.cfg.LoopbackOnly {
			bindIP = "127.0.0.1"
		}
	}
	ip := net.ParseIP(bindIP)
	if ip == nil {
		return "", "", fmt.Errorf("media: invalid bind IP %q", bindIP)
	}
	netw = "udp4"
	if ip.To4() == nil {
		netw = "udp6"
	}
	udp, err := net.ListenUDP(netw, &net.UDPAddr{IP: ip, Port: e.cfg.UDPPort})
	if err != nil {
		return "", "", fmt.Errorf("media: listen ICE UDP %s:%d: %w", bindIP, e.cfg.UDPPort, err)
	}
	e.udpConn = udp
	e.udpMux = webrtc.NewICEUDPMux(pionLogs{log: e.log}.NewLogger("udpmux"), udp)
	return bindIP, netw, nil
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

// settingEngine builds the SettingEngine both APIs share: the UDP mux, DTLS
// role and SRTP profiles, candidate filters and the NAT address. The caller
// adds ICE-TCP and the network types.
func (e *Engine) settingEngine() (webrtc.SettingEngine, error) {
	se := webrtc.SettingEngine{LoggerFactory: pionLogs{log: e.log}}
	se.SetICEUDPMux(e.udpMux)
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
	if e.cfg.LoopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" || name == "lo0" })
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	if e.cfg.NodeIP != "" {
		se.SetNAT1To1IPs([]string{e.cfg.NodeIP}, webrtc.ICECandidateTypeHost)
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
	pc, err := e.pubAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("media: new publisher pc: %w", err)
	}
	return pc, nil
}

// NewSubscriberPC creates a PeerConnection that sends media to a participant.
// With bandwidth estimation on, SubscriberEstimator(pc) is its Estimator.
func (e *Engine) NewSubscriberPC() (*webrtc.PeerConnection, error) {
	if e.bwe == nil {
		pc, err := e.subAPI.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return nil, fmt.Errorf("media: new subscriber pc: %w", err)
		}
		return pc, nil
	}
	e.subMu.Lock()
	defer e.subMu.Unlock()
	pc, err := e.subAPI.NewPeerConnection(webrtc.Configuration{})
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

// SubscriberEstimator is the bandwidth Estimator of a subscriber PC made by
// NewSubscriberPC, nil when estimation is off or the PC is closed.
func (e *Engine) SubscriberEstimator(pc *webrtc.PeerConnection) *Estimator {
	if v, ok := e.estimators.Load(pc); ok {
		return v.(*Estimator)
	}
	return nil
}

// UDPAddr is the address the shared ICE UDP port is bound to (useful when
// Config.UDPPort was 0).
func (e *Engine) UDPAddr() *net.UDPAddr {
	if a, ok := e.udpConn.LocalAddr().(*net.UDPAddr); ok {
		return a
	}
	return nil
}

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
		if e.udpMux != nil {
			errs = append(errs, e.udpMux.Close())
		} else if e.udpConn != nil {
			errs = append(errs, e.udpConn.Close())
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
