package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/turn"
)

// externalIPTimeout bounds rtc.use_external_ip's STUN discovery at start.
const externalIPTimeout = 10 * time.Second

// resolveExternalIP implements rtc.use_external_ip: when it is set and rtc.node_ip is not, the
// address the STUN servers (rtc.stun_servers, else LiveKit's defaults, as LiveKit does) see us
// at becomes rtc.node_ip, advertised in every candidate (NAT 1:1). When no server answers the
// node starts anyway with its local addresses, as LiveKit does, and says so in the log.
func resolveExternalIP(ctx context.Context, cfg *Config, log *slog.Logger) {
	if !cfg.RTC.UseExternalIP || cfg.RTC.NodeIP != "" {
		return
	}
	servers := cfg.RTC.STUNServers
	if len(servers) == 0 {
		servers = turn.LiveKitSTUNServers
		log.Info("rtc.use_external_ip: rtc.stun_servers is empty; asking LiveKit's default STUN servers", "stun_servers", servers)
	}
	ctx, cancel := context.WithTimeout(ctx, externalIPTimeout)
	defer cancel()
	ip, err := turn.ExternalIP(ctx, servers, specificBindIP(cfg), log)
	if err != nil {
		log.Warn("rtc.use_external_ip: no external IP found; advertising the local addresses (set rtc.node_ip to the public address)", "err", err)
		return
	}
	cfg.RTC.NodeIP = ip.String()
	log.Info("rtc.use_external_ip: advertising the external IP", "node_ip", cfg.RTC.NodeIP)
}

// specificBindIP is the one bind address when there is exactly one and it is not 0.0.0.0/::.
func specificBindIP(cfg *Config) string {
	if len(cfg.BindAddresses) != 1 {
		return ""
	}
	if ip := net.ParseIP(cfg.BindAddresses[0]); ip != nil && !ip.IsUnspecified() {
		return ip.String()
	}
	return ""
}

// needsProvider reports whether ice_servers are minted per participant: the embedded TURN
// server or rtc.turn_servers is configured. Otherwise the static STUN list is enough.
func (c *Config) needsProvider() bool {
	return c.TURN.Enabled || len(c.RTC.TURNServers) > 0
}

// providerConfig is the turn.ProviderConfig of this configuration: the turn: section, the first
// API key pair (sorted) for its credentials, the node's advertised IPs and its ICE UDP port as
// the only relay destination.
func (c *Config) providerConfig(keys auth.KeyProvider, log *slog.Logger) turn.ProviderConfig {
	opts := turn.Options{Keys: keys, NodeIPs: c.turnNodeIPs(), Log: log}
	if ks := keys.Keys(); len(ks) > 0 {
		opts.APIKey = ks[0]
		opts.APISecret, _ = keys.Secret(ks[0])
	}
	opts.MediaPorts = c.RTC.mediaPorts()
	return turn.ProviderConfig{TURN: c.TURN, TURNOptions: opts, TURNServers: c.RTC.TURNServers, STUNServers: c.RTC.STUNServers}
}

// turnNodeIPs are the addresses the node's candidates carry, which the turn: URLs name and the
// relay may send to: rtc.node_ip (or the discovered external IP), 127.0.0.1 for a --dev node,
// the one bind address, else every global or private IPv4 address of the host's interfaces
// that are up and that rtc.ips keeps (127.0.0.1 too with enable_loopback_candidate).
func (c *Config) turnNodeIPs() []string {
	switch {
	case c.RTC.NodeIP != "":
		return []string{c.RTC.NodeIP}
	case c.Dev:
		return []string{"127.0.0.1"}
	case specificBindIP(c) != "":
		return []string{specificBindIP(c)}
	}
	ips := c.RTC.keptIPs(interfaceIPv4s())
	if c.RTC.EnableLoopbackCandidate {
		ips = append(ips, "127.0.0.1")
	}
	return ips
}

// keptIPs are the addresses of ips that rtc.ips lets through (validated CIDRs or IPs).
func (r *RTCConfig) keptIPs(ips []string) []string {
	in := func(list []string, ip net.IP) bool {
		for _, s := range list {
			if one := net.ParseIP(s); one != nil && one.Equal(ip) {
				return true
			}
			if _, n, err := net.ParseCIDR(s); err == nil && n.Contains(ip) {
				return true
			}
		}
		return false
	}
	var out []string
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil || in(r.IPs.Excludes, ip) || (len(r.IPs.Includes) > 0 && !in(r.IPs.Includes, ip)) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// interfaceIPv4s lists the IPv4 addresses of the interfaces that are up, loopback and
// link-local left out.
func interfaceIPv4s() []string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip4 := n.IP.To4(); ip4 != nil && ip4.IsGlobalUnicast() {
				out = append(out, ip4.String())
			}
		}
	}
	return out
}

// startProvider starts the embedded TURN server and the per-participant ice_servers when the
// configuration asks for them, and points nodeCfg at them; nil when it does not. Its lifetime is
// the node's: close it after the node.
func startProvider(cfg *Config, keys auth.KeyProvider, nodeCfg *actors.Config, log *slog.Logger) (*turn.Provider, error) {
	if !cfg.needsProvider() {
		return nil, nil
	}
	pc := cfg.providerConfig(keys, log)
	p, err := turn.NewProvider(pc)
	if err != nil {
		return nil, fmt.Errorf("starting TURN: %w", err)
	}
	if cfg.TURN.Enabled {
		for _, ip := range restrictedNodeIPs(pc.TURNOptions.NodeIPs, cfg.TURN.AllowRestrictedPeerCIDRs) {
			log.Warn("turn: the relay refuses to reach this node's own address, which is private or loopback; add it to turn.allow_restricted_peer_cidrs", "node_ip", ip)
		}
	}
	nodeCfg.ICEServersFor = p.ICEServers
	if len(cfg.RTC.TURNServers) > 0 {
		log.Info("TURN servers handed to clients", "count", len(cfg.RTC.TURNServers))
	}
	return p, nil
}

// restrictedNodeIPs are the node IPs the TURN relay refuses by default (loopback, private,
// link-local) that no allow_restricted_peer_cidrs entry covers.
func restrictedNodeIPs(nodeIPs, allowed []string) []string {
	var nets []*net.IPNet
	for _, a := range allowed {
		if ip := net.ParseIP(a); ip != nil {
			a += "/32"
			if ip.To4() == nil {
				a = ip.String() + "/128"
			}
		}
		if _, n, err := net.ParseCIDR(a); err == nil {
			nets = append(nets, n)
		}
	}
	var out []string
	for _, s := range nodeIPs {
		ip := net.ParseIP(s)
		if ip == nil || !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()) {
			continue
		}
		covered := false
		for _, n := range nets {
			covered = covered || n.Contains(ip)
		}
		if !covered {
			out = append(out, s)
		}
	}
	return out
}

// mediaConfig is the ICE part of the engine configuration: the muxed UDP port(s) or the
// per-PeerConnection port range, ICE/TCP, the interface and IP filters and loopback
// candidates. dev (--dev) gathers loopback candidates only; enable_loopback_candidate adds
// loopback candidates to the others, as in LiveKit.
func (r *RTCConfig) mediaConfig(bindIP string, dev bool) media.Config {
	mc := media.Config{
		BindIP:            bindIP,
		UDPPort:           r.UDPPort.Start,
		UDPPortEnd:        r.UDPPort.End,
		TCPPort:           int(r.TCPPort),
		NodeIP:            r.NodeIP,
		LoopbackOnly:      dev,
		IncludeLoopback:   r.EnableLoopbackCandidate,
		InterfacesInclude: r.Interfaces.Includes,
		InterfacesExclude: r.Interfaces.Excludes,
		IPsInclude:        r.IPs.Includes,
		IPsExclude:        r.IPs.Excludes,
		SRTPGCMOnly:       r.SRTPGCMOnly,
		// Send-side estimation costs each subscriber packet a TWCC stamp and GCC's bookkeeping
		// (two allocations); nothing steers layers from the estimate yet, so the node does not
		// pay for it until the participant's allocator is wired.
		BWE: media.BWEConfig{Disabled: true},
	}
	if r.ephemeralPorts() {
		mc.UDPPort, mc.UDPPortEnd = 0, 0
		mc.PortRangeStart, mc.PortRangeEnd = r.PortRangeStart, r.PortRangeEnd
	}
	return mc
}

// validateFilters checks that rtc.ips entries are CIDRs or IPs.
func (r *RTCConfig) validateFilters() error {
	for _, list := range [][]string{r.IPs.Includes, r.IPs.Excludes} {
		for _, s := range list {
			if net.ParseIP(s) != nil {
				continue
			}
			if _, _, err := net.ParseCIDR(s); err != nil {
				return fmt.Errorf("rtc.ips: %q is neither a CIDR nor an IP: %w", s, err)
			}
		}
	}
	return nil
}

// mediaPorts are the UDP ports the node's candidates use, the only relay destinations of the
// embedded TURN server: the muxed port(s), else the per-PeerConnection range; none when the
// port is picked at start (0).
func (r *RTCConfig) mediaPorts() []turn.PortRange {
	switch {
	case r.ephemeralPorts():
		return []turn.PortRange{{Min: r.PortRangeStart, Max: r.PortRangeEnd}}
	case r.UDPPort.Start > 0:
		return []turn.PortRange{{Min: r.UDPPort.Start, Max: max(r.UDPPort.Start, r.UDPPort.End)}}
	}
	return nil
}
