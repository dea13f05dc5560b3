package turn

import (
	"log/slog"
	"net"
	"sync/atomic"
)

// PortRange is an inclusive range of UDP ports.
type PortRange struct{ Min, Max int }

// PeerPolicy decides which peers the relay may talk to. The embedded server
// exists to carry media between clients and this node, so by default it
// relays only to the node's own IPs, and only to its media ports when those
// are known: it is never an open relay.
//
// An address is refused when DenyPeerCIDRs covers it. Otherwise it is
// allowed when AllowRestrictedPeerCIDRs covers it, or when it is one of the
// node's IPs and not restricted (loopback, private, link-local, multicast,
// unspecified — the same list LiveKit refuses). When media ports are known,
// the port must be one of them as well.
type PeerPolicy struct {
	nodeIPs []net.IP
	ports   []PortRange
	allow   []*net.IPNet
	deny    []*net.IPNet

	refused atomic.Uint64
	log     *slog.Logger
}

// NewPeerPolicy builds a policy from the node's advertised IPs, its media
// ports (nil: any port) and the turn: CIDR keys.
func NewPeerPolicy(nodeIPs []net.IP, mediaPorts []PortRange, allowRestricted, deny []string, log *slog.Logger) (*PeerPolicy, error) {
	a, err := parseCIDRs(allowRestricted)
	if err != nil {
		return nil, err
	}
	d, err := parseCIDRs(deny)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &PeerPolicy{nodeIPs: nodeIPs, ports: mediaPorts, allow: a, deny: d, log: log}, nil
}

// AllowIP is the CreatePermission / ChannelBind check (pion's
// PermissionHandler): may the relay exchange packets with peerIP at all?
func (p *PeerPolicy) AllowIP(clientAddr net.Addr, peerIP net.IP) bool {
	ok := p.allowIP(peerIP)
	if !ok {
		p.refused.Add(1)
		p.log.Debug("turn: permission refused", "client", clientAddr.String(), "peer", peerIP.String())
	}
	return ok
}

func (p *PeerPolicy) allowIP(ip net.IP) bool {
	if ip == nil || covers(p.deny, ip) {
		return false
	}
	if covers(p.allow, ip) {
		return true
	}
	if restricted(ip) {
		return false
	}
	for _, own := range p.nodeIPs {
		if own.Equal(ip) {
			return true
		}
	}
	return false
}

// AllowAddr checks a full UDP address: the IP as AllowIP, then the port.
func (p *PeerPolicy) AllowAddr(a net.Addr) bool {
	ua, ok := a.(*net.UDPAddr)
	if !ok || !p.allowIP(ua.IP) {
		return false
	}
	if len(p.ports) == 0 {
		return true
	}
	for _, r := range p.ports {
		if ua.Port >= r.Min && ua.Port <= r.Max {
			return true
		}
	}
	return false
}

// Refused counts permissions and relayed packets refused so far.
func (p *PeerPolicy) Refused() uint64 { return p.refused.Load() }

// restricted reports the address classes a relay must not reach unless
// configured to.
func restricted(ip net.IP) bool {
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified()
}

func covers(nets []*net.IPNet, ip net.IP) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// policedConn is a relay socket that drops datagrams to and from addresses
// the policy refuses, so that a permission for the node's IP does not open
// the node's other ports.
type policedConn struct {
	net.PacketConn
	policy *PeerPolicy
}

// WriteTo sends b to addr when the policy allows it, and silently drops it
// otherwise (UDP semantics: the sender learns nothing).
func (c *policedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if !c.policy.AllowAddr(addr) {
		c.policy.refused.Add(1)
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

// ReadFrom returns the next datagram from an allowed address.
func (c *policedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || c.policy.AllowAddr(addr) {
			return n, addr, err
		}
		c.policy.refused.Add(1)
	}
}
