package actors

// Remote ICE candidates as attack surface: every candidate a client names becomes connectivity
// checks the node sends, so a client could point the node at the cloud metadata service, at the
// machine's own loopback services, or at thousands of addresses. The node takes at most
// MaxICECandidatesPerPC per PeerConnection, only with IP literals (no names to resolve), only
// UDP or ICE-TCP candidates that dial the node (tcptype active: the node never dials out over
// TCP), and only addresses outside the special classes below unless the node's own addresses
// are of that class (a node on 127.0.0.1 for tests and --dev talks to loopback peers).

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/pion/sdp/v3"
)

// addrClass is the kind of address a candidate names, as far as the node cares.
type addrClass int

const (
	addrOrdinary addrClass = iota // public and private unicast: always allowed
	addrLoopback
	addrLinkLocal
	addrUnspecified
	addrMulticast
	addrMetadata // the cloud instance metadata service
)

// Candidate refusals, wrapped with the candidate's address.
var (
	errCandidateMalformed = errors.New("malformed candidate")
	errCandidateHostname  = errors.New("candidate address is not an IP address")
	errCandidateTCP       = errors.New("candidate would make the node dial out over TCP")
	errCandidateClass     = errors.New("candidate address is in a range the node does not contact")
)

// metadataAddrs are the instance metadata services of the big clouds (IPv4 for all of them,
// AWS's IPv6 one).
var metadataAddrs = []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254")}

func classify(ip netip.Addr) addrClass {
	ip = ip.Unmap()
	for _, m := range metadataAddrs {
		if ip == m {
			return addrMetadata
		}
	}
	switch {
	case ip.IsLoopback():
		return addrLoopback
	case ip.IsLinkLocalUnicast():
		return addrLinkLocal
	case ip.IsUnspecified():
		return addrUnspecified
	case ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return addrMulticast
	}
	return addrOrdinary
}

// candidatePolicy decides which remote candidates the node may contact.
type candidatePolicy struct {
	own map[addrClass]bool // special classes the node's own addresses belong to
}

// newCandidatePolicy allows the special classes of the node's own addresses: the IP its ICE port
// is bound to, its advertised NodeIP, and loopback when it gathers loopback candidates only.
func newCandidatePolicy(bound netip.Addr, nodeIP string, loopbackOnly bool) candidatePolicy {
	p := candidatePolicy{own: map[addrClass]bool{}}
	if bound.IsValid() && !bound.IsUnspecified() {
		p.own[classify(bound)] = true
	}
	if ip, err := netip.ParseAddr(nodeIP); err == nil {
		p.own[classify(ip)] = true
	}
	if loopbackOnly {
		p.own[addrLoopback] = true
	}
	delete(p.own, addrOrdinary)
	return p
}

// check returns nil when the node may send connectivity checks to the candidate, given as in a
// trickle ("candidate:…") or an SDP attribute value.
func (p candidatePolicy) check(candidate string) error {
	fields := strings.Fields(strings.TrimPrefix(strings.TrimPrefix(candidate, "a="), "candidate:"))
	// foundation component transport priority address port "typ" type [extensions…]
	if len(fields) < 8 || fields[6] != "typ" {
		return fmt.Errorf("%q: %w", candidate, errCandidateMalformed)
	}
	addr := fields[4]
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, errCandidateHostname)
	}
	if strings.EqualFold(fields[2], "tcp") && tcpType(fields[8:]) != "active" {
		return fmt.Errorf("%s: %w", addr, errCandidateTCP)
	}
	if c := classify(ip); c != addrOrdinary && !p.own[c] {
		return fmt.Errorf("%s: %w", addr, errCandidateClass)
	}
	return nil
}

// tcpType finds the tcptype extension of a candidate's trailing fields.
func tcpType(ext []string) string {
	for i := 0; i+1 < len(ext); i += 2 {
		if ext[i] == "tcptype" {
			return ext[i+1]
		}
	}
	return ""
}

// filterSDPCandidates removes from a session description the a=candidate lines the policy refuses
// and those beyond budget, and returns how many it kept and removed. The SDP comes back unchanged
// (byte for byte) when nothing was removed.
func filterSDPCandidates(raw string, p candidatePolicy, budget int) (out string, kept, removed int, err error) {
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(raw); err != nil {
		return raw, 0, 0, fmt.Errorf("invalid SDP: %w", err)
	}
	for _, md := range parsed.MediaDescriptions {
		attrs := md.Attributes[:0]
		for _, a := range md.Attributes {
			if a.Key == "candidate" {
				if kept >= budget || p.check(a.Value) != nil {
					removed++
					continue
				}
				kept++
			}
			attrs = append(attrs, a)
		}
		md.Attributes = attrs
	}
	if removed == 0 {
		return raw, kept, 0, nil
	}
	b, err := parsed.Marshal()
	if err != nil {
		return raw, kept, removed, fmt.Errorf("re-encoding SDP: %w", err)
	}
	return string(b), kept, removed, nil
}
