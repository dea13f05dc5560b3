package turn

import (
	"fmt"
	"net"
	"time"
)

// Defaults LiveKit uses for the keys left out of the config file.
const (
	// DefaultTTL is how long a minted credential admits a new allocation.
	DefaultTTL = 300 * time.Second
	// DefaultRelayRangeStart and DefaultRelayRangeEnd bound the UDP ports
	// relay sockets are opened on.
	DefaultRelayRangeStart = 30000
	DefaultRelayRangeEnd   = 40000
	// Realm is the TURN realm; LiveKit's is "livekit".
	Realm = "livekit"
	// tlsURLPort is the port LiveKit always writes in the turns: URL: TLS is
	// expected to arrive through a load balancer on 443.
	tlsURLPort = 443
)

// Config is LiveKit's `turn:` section, plus tcp_port (TURN over plain TCP,
// which LiveKit lacks and its users ask for) and tls_url_port. A port of 0
// leaves that listener off.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// Domain is the name in the turns: URL and in the certificate.
	Domain string `yaml:"domain"`
	// CertFile and KeyFile hold the PEM certificate for the TLS listener.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// TLSPort is the TURN/TLS listener. With ExternalTLS it accepts plain
	// TCP from a TLS-terminating load balancer instead.
	TLSPort     int  `yaml:"tls_port"`
	ExternalTLS bool `yaml:"external_tls"`
	// TLSURLPort is the port written in the turns: URL; 0 means 443 as in
	// LiveKit (a load balancer on 443 in front of TLSPort).
	TLSURLPort int `yaml:"tls_url_port"`
	// UDPPort is the TURN/UDP listener (LiveKit's usual 3478).
	UDPPort int `yaml:"udp_port"`
	// TCPPort is the TURN/TCP listener (our extension).
	TCPPort int `yaml:"tcp_port"`
	// RelayRangeStart and RelayRangeEnd bound the relay sockets' UDP ports.
	RelayRangeStart int `yaml:"relay_range_start"`
	RelayRangeEnd   int `yaml:"relay_range_end"`
	// BindAddresses are the IPs the listeners bind to; default 0.0.0.0.
	BindAddresses []string `yaml:"bind_addresses"`
	// TTLSeconds is how long a minted credential admits new allocations;
	// default 300. Allocations made in time outlive it.
	TTLSeconds int `yaml:"ttl_seconds"`
	// AllowRestrictedPeerCIDRs lets the relay reach these peers although
	// they are loopback/private/link-local or not one of the node's IPs.
	AllowRestrictedPeerCIDRs []string `yaml:"allow_restricted_peer_cidrs"`
	// DenyPeerCIDRs are never relayed to, whatever else allows them.
	DenyPeerCIDRs []string `yaml:"deny_peer_cidrs"`
}

// withDefaults fills LiveKit's defaults for the keys left at zero.
func (c Config) withDefaults() Config {
	if len(c.BindAddresses) == 0 {
		c.BindAddresses = []string{"0.0.0.0"}
	}
	if c.TTLSeconds <= 0 {
		c.TTLSeconds = int(DefaultTTL / time.Second)
	}
	if c.RelayRangeStart == 0 && c.RelayRangeEnd == 0 {
		c.RelayRangeStart, c.RelayRangeEnd = DefaultRelayRangeStart, DefaultRelayRangeEnd
	}
	if c.TLSURLPort == 0 {
		c.TLSURLPort = tlsURLPort
	}
	return c
}

// TTL is the credential lifetime the config asks for.
func (c Config) TTL() time.Duration {
	return time.Duration(c.withDefaults().TTLSeconds) * time.Second
}

// Validate reports the first inconsistency in an enabled config; a disabled
// config is always valid.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	c = c.withDefaults()
	if c.UDPPort <= 0 && c.TCPPort <= 0 && c.TLSPort <= 0 {
		return ErrNoListeners
	}
	if c.TLSPort > 0 && (c.Domain == "" || (!c.ExternalTLS && (c.CertFile == "" || c.KeyFile == ""))) {
		return ErrTLSConfig
	}
	if c.RelayRangeStart < 1 || c.RelayRangeEnd > 65535 || c.RelayRangeStart > c.RelayRangeEnd {
		return fmt.Errorf("%w: %d-%d", ErrRelayRange, c.RelayRangeStart, c.RelayRangeEnd)
	}
	for _, a := range c.BindAddresses {
		if net.ParseIP(a) == nil {
			return fmt.Errorf("turn: bind_addresses: invalid IP %q", a)
		}
	}
	if _, err := parseCIDRs(c.AllowRestrictedPeerCIDRs); err != nil {
		return fmt.Errorf("turn: allow_restricted_peer_cidrs: %w", err)
	}
	if _, err := parseCIDRs(c.DenyPeerCIDRs); err != nil {
		return fmt.Errorf("turn: deny_peer_cidrs: %w", err)
	}
	return nil
}

// parseCIDRs parses CIDRs; a bare IP counts as a single-address network.
func parseCIDRs(list []string) ([]*net.IPNet, error) {
	out := make([]*net.IPNet, 0, len(list))
	for _, s := range list {
		if ip := net.ParseIP(s); ip != nil {
			bits := 128
			if ip4 := ip.To4(); ip4 != nil {
				ip, bits = ip4, 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("parse %q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}
