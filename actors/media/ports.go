// This file holds the Engine's ICE/UDP listener setup: one muxed port or a
// range of muxed ports (PeerConnections spread over them), or an ephemeral
// port per PeerConnection from a range, and the interface and IP filters
// deciding which local addresses are listened on and advertised.

package media

import (
	"fmt"
	"net"
	"strings"

	"github.com/pion/ice/v2"
	"github.com/pion/webrtc/v3"
)

// ephemeral reports whether every PeerConnection takes its own UDP port from
// PortRangeStart..PortRangeEnd instead of sharing muxed ports.
func (c Config) ephemeral() bool {
	return c.PortRangeStart > 0 && c.PortRangeEnd >= c.PortRangeStart
}

// udpPorts are the muxed ports to bind: UDPPort, or UDPPort..UDPPortEnd.
func (c Config) udpPorts() []int {
	if c.UDPPortEnd <= c.UDPPort || c.UDPPort == 0 {
		return []int{c.UDPPort}
	}
	ports := make([]int, 0, c.UDPPortEnd-c.UDPPort+1)
	for p := c.UDPPort; p <= c.UDPPortEnd; p++ {
		ports = append(ports, p)
	}
	return ports
}

// ipNets parses CIDRs (a bare IP counts as a /32 or /128).
func ipNets(cidrs []string) ([]*net.IPNet, error) {
	out := make([]*net.IPNet, 0, len(cidrs))
	for _, s := range cidrs {
		s = strings.TrimSpace(s)
		if ip := net.ParseIP(s); ip != nil {
			bits := 128
			if ip.To4() != nil {
				bits = 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("media: ip filter %q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func inAny(nets []*net.IPNet, ip net.IP) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// filters are the interface and IP filters of this configuration, nil when
// they let everything through. LoopbackOnly keeps loopback alone. With
// IncludeLoopback (LiveKit's enable_loopback_candidate) loopback passes the
// include lists whatever they name; the exclude lists still win.
func (c Config) filters() (ifFilter func(string) bool, ipFilter func(net.IP) bool, err error) {
	if c.LoopbackOnly {
		return func(name string) bool { return name == "lo" || name == "lo0" },
			func(ip net.IP) bool { return ip.IsLoopback() }, nil
	}
	if len(c.InterfacesInclude) > 0 || len(c.InterfacesExclude) > 0 {
		inc, exc := c.InterfacesInclude, c.InterfacesExclude
		loop := c.IncludeLoopback
		ifFilter = func(name string) bool {
			for _, x := range exc {
				if x == name {
					return false
				}
			}
			if len(inc) == 0 || (loop && (name == "lo" || name == "lo0")) {
				return true
			}
			for _, x := range inc {
				if x == name {
					return true
				}
			}
			return false
		}
	}
	if len(c.IPsInclude) > 0 || len(c.IPsExclude) > 0 {
		inc, err := ipNets(c.IPsInclude)
		if err != nil {
			return nil, nil, err
		}
		exc, err := ipNets(c.IPsExclude)
		if err != nil {
			return nil, nil, err
		}
		loop := c.IncludeLoopback
		ipFilter = func(ip net.IP) bool {
			if inAny(exc, ip) {
				return false
			}
			return len(inc) == 0 || inAny(inc, ip) || (loop && ip.IsLoopback())
		}
	}
	return ifFilter, ipFilter, nil
}

// specificBind is the configured bind IP when it names one address; nil for
// "" or an unspecified address. LoopbackOnly without BindIP means 127.0.0.1.
func (c Config) specificBind() (net.IP, error) {
	s := c.BindIP
	if s == "" && c.LoopbackOnly {
		s = "127.0.0.1"
	}
	if s == "" {
		return nil, nil
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, fmt.Errorf("media: invalid bind IP %q", s)
	}
	if ip.IsUnspecified() {
		return nil, nil
	}
	return ip, nil
}

// udpNetworks are the ICE UDP network types: the bind address's family, UDP4
// alone for loopback-only, else UDP4 and UDP6 when the host has a usable IPv6
// address (a candidate on it, loopback included when asked for).
func (e *Engine) udpNetworks(bind net.IP) []webrtc.NetworkType {
	switch {
	case bind != nil && bind.To4() == nil:
		return []webrtc.NetworkType{webrtc.NetworkTypeUDP6}
	case bind != nil || e.cfg.LoopbackOnly:
		return []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	if hostHasIPv6(e.cfg) {
		return []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	}
	return []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
}

// hostHasIPv6 reports whether an interface that passes the filters has an
// IPv6 address ICE would use (not link-local; loopback only if included).
func hostHasIPv6(c Config) bool {
	for _, ip := range localIPs(c) {
		if ip.To4() == nil {
			return true
		}
	}
	return false
}

// localIPs are the addresses of the interfaces that are up and pass the
// filters, as pion gathers them: link-local and ::1 left out, loopback only
// when included.
func localIPs(c Config) []net.IP {
	ifFilter, ipFilter, err := c.filters()
	if err != nil {
		return nil
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, ifc := range ifaces {
		loop := ifc.Flags&net.FlagLoopback != 0
		if ifc.Flags&net.FlagUp == 0 || (loop && !c.IncludeLoopback && !c.LoopbackOnly) || (ifFilter != nil && !ifFilter(ifc.Name)) {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if ok && usableByICE(n.IP) && (ipFilter == nil || ipFilter(n.IP)) {
				out = append(out, n.IP)
			}
		}
	}
	return out
}

// usableByICE leaves out the addresses pion's gathering skips: link-local,
// and IPv6 that is IPv4-compatible (::1 included) or site-local.
func usableByICE(ip net.IP) bool {
	if ip.IsLinkLocalUnicast() {
		return false
	}
	if ip.To4() != nil {
		return true
	}
	return !(net.IP(ip[:12]).Equal(make(net.IP, 12)) || (ip[0] == 0xfe && ip[1]&0xc0 == 0xc0))
}

// natMappings are the SettingEngine's 1:1 NAT host mappings for NodeIP: the
// one address for every host candidate, except that with IncludeLoopback the
// loopback candidates keep their address (pion maps every host candidate to
// a sole IP, so each local address of NodeIP's family is mapped explicitly).
func (c Config) natMappings() []string {
	node := net.ParseIP(c.NodeIP)
	if node == nil {
		return nil
	}
	if !c.IncludeLoopback || c.LoopbackOnly {
		return []string{c.NodeIP}
	}
	var out []string
	for _, ip := range localIPs(c) {
		if (ip.To4() == nil) != (node.To4() == nil) {
			continue
		}
		if ip.IsLoopback() {
			out = append(out, ip.String()+"/"+ip.String())
		} else {
			out = append(out, c.NodeIP+"/"+ip.String())
		}
	}
	return out
}

// listenUDPMuxes binds the muxed ICE UDP port(s): on the one bind address
// when there is one, else on every local address the filters keep (one
// socket per address and port, so the kernel picks the right source address).
func (e *Engine) listenUDPMuxes(bind net.IP, netws []webrtc.NetworkType) error {
	for _, port := range e.cfg.udpPorts() {
		mux, err := e.listenUDPPort(bind, port, netws)
		if err != nil {
			return err
		}
		e.udpMuxes = append(e.udpMuxes, mux)
	}
	return nil
}

func (e *Engine) listenUDPPort(bind net.IP, port int, netws []webrtc.NetworkType) (ice.UDPMux, error) {
	logger := pionLogs{log: e.log}.NewLogger("udpmux")
	if bind != nil {
		netw := "udp4"
		if bind.To4() == nil {
			netw = "udp6"
		}
		conn, err := net.ListenUDP(netw, &net.UDPAddr{IP: bind, Port: port})
		if err != nil {
			return nil, fmt.Errorf("media: listen ICE UDP %s:%d: %w", bind, port, err)
		}
		e.udpAddrs = append(e.udpAddrs, conn.LocalAddr().(*net.UDPAddr))
		return webrtc.NewICEUDPMux(logger, conn), nil
	}
	ifFilter, ipFilter, err := e.cfg.filters()
	if err != nil {
		return nil, err
	}
	opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithLogger(logger), ice.UDPMuxFromPortWithNetworks(iceNetworks(netws)...)}
	if ifFilter != nil {
		opts = append(opts, ice.UDPMuxFromPortWithInterfaceFilter(ifFilter))
	}
	if ipFilter != nil {
		opts = append(opts, ice.UDPMuxFromPortWithIPFilter(ipFilter))
	}
	if e.cfg.IncludeLoopback {
		opts = append(opts, ice.UDPMuxFromPortWithLoopback())
	}
	mux, err := ice.NewMultiUDPMuxFromPort(port, opts...)
	if err != nil {
		return nil, fmt.Errorf("media: listen ICE UDP port %d: %w", port, err)
	}
	addrs := mux.GetListenAddresses()
	if len(addrs) == 0 {
		_ = mux.Close()
		return nil, fmt.Errorf("media: ICE UDP port %d: %w", port, errNoAddress)
	}
	for _, a := range addrs {
		if ua, ok := a.(*net.UDPAddr); ok {
			e.udpAddrs = append(e.udpAddrs, ua)
		}
	}
	return mux, nil
}

func iceNetworks(netws []webrtc.NetworkType) []ice.NetworkType {
	out := make([]ice.NetworkType, 0, len(netws))
	for _, n := range netws {
		switch n {
		case webrtc.NetworkTypeUDP4:
			out = append(out, ice.NetworkTypeUDP4)
		case webrtc.NetworkTypeUDP6:
			out = append(out, ice.NetworkTypeUDP6)
		}
	}
	return out
}

// applyFilters sets the candidate filters, loopback candidates and, for the
// ephemeral mode, the port range on the SettingEngine. The filters also
// decide the addresses of ICE-TCP and ephemeral-port candidates.
func (e *Engine) applyFilters(se *webrtc.SettingEngine, bind net.IP) error {
	ifFilter, ipFilter, err := e.cfg.filters()
	if err != nil {
		return err
	}
	if bind != nil && e.cfg.ephemeral() {
		// Ephemeral ports are bound per gathered address: keep the one.
		ipFilter = func(ip net.IP) bool { return ip.Equal(bind) }
	}
	if ifFilter != nil {
		se.SetInterfaceFilter(ifFilter)
	}
	if ipFilter != nil {
		se.SetIPFilter(ipFilter)
	}
	if e.cfg.LoopbackOnly || e.cfg.IncludeLoopback {
		se.SetIncludeLoopbackCandidate(true)
	}
	if e.cfg.ephemeral() {
		if err := se.SetEphemeralUDPPortRange(uint16(e.cfg.PortRangeStart), uint16(e.cfg.PortRangeEnd)); err != nil {
			return fmt.Errorf("media: port range %d-%d: %w", e.cfg.PortRangeStart, e.cfg.PortRangeEnd, err)
		}
	}
	return nil
}
