package actors

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// The candidate policy of a public node and of a loopback (test, --dev) node.
func TestCandidatePolicy(t *testing.T) {
	public := newCandidatePolicy(netip.MustParseAddr("0.0.0.0"), "203.0.113.7", false)
	loopback := newCandidatePolicy(netip.MustParseAddr("127.0.0.1"), "", true)
	cand := func(addr, rest string) string {
		return "candidate:1 1 udp 2130706431 " + addr + " 5000 typ host" + rest
	}
	cases := []struct {
		name               string
		candidate          string
		public, onLoopback error
	}{
		{"public IPv4", cand("198.51.100.4", ""), nil, nil},
		{"private IPv4", cand("10.1.2.3", ""), nil, nil},
		{"public IPv6", cand("2001:db8::1", ""), nil, nil},
		{"srflx with raddr", "candidate:2 1 udp 1694498815 198.51.100.4 6000 typ srflx raddr 10.0.0.1 rport 5000", nil, nil},
		{"loopback", cand("127.0.0.1", ""), errCandidateClass, nil},
		{"other loopback", cand("127.9.9.9", ""), errCandidateClass, nil},
		{"IPv6 loopback", cand("::1", ""), errCandidateClass, nil},
		{"IPv4-mapped loopback", cand("::ffff:127.0.0.1", ""), errCandidateClass, nil},
		{"link-local", cand("169.254.10.10", ""), errCandidateClass, errCandidateClass},
		{"IPv6 link-local", cand("fe80::1", ""), errCandidateClass, errCandidateClass},
		{"metadata service", cand("169.254.169.254", ""), errCandidateClass, errCandidateClass},
		{"AWS IPv6 metadata", cand("fd00:ec2::254", ""), errCandidateClass, errCandidateClass},
		{"unspecified", cand("0.0.0.0", ""), errCandidateClass, errCandidateClass},
		{"multicast", cand("224.0.0.251", ""), errCandidateClass, errCandidateClass},
		{"broadcast", cand("255.255.255.255", ""), errCandidateClass, errCandidateClass},
		{"mDNS name", cand("0f1e2d3c.local", ""), errCandidateHostname, errCandidateHostname},
		{"DNS name", cand("metadata.google.internal", ""), errCandidateHostname, errCandidateHostname},
		{"TCP passive", "candidate:3 1 tcp 1518280447 198.51.100.4 9 typ host tcptype passive", errCandidateTCP, errCandidateTCP},
		{"TCP simultaneous-open", "candidate:3 1 tcp 1518280447 198.51.100.4 9 typ host tcptype so", errCandidateTCP, errCandidateTCP},
		{"TCP active", "candidate:3 1 tcp 1518280447 198.51.100.4 9 typ host tcptype active", nil, nil},
		{"SDP attribute form", "a=" + cand("198.51.100.4", ""), nil, nil},
		{"truncated", "candidate:1 1 udp 1 198.51.100.4", errCandidateMalformed, errCandidateMalformed},
		{"empty", "", errCandidateMalformed, errCandidateMalformed},
	}
	for _, c := range cases {
		if err := public.check(c.candidate); !errors.Is(err, c.public) {
			t.Errorf("%s on a public node: %v, want %v", c.name, err, c.public)
		}
		if err := loopback.check(c.candidate); !errors.Is(err, c.onLoopback) {
			t.Errorf("%s on a loopback node: %v, want %v", c.name, err, c.onLoopback)
		}
	}
}

// filterSDPCandidates keeps the allowed candidates up to the budget and leaves the SDP untouched
// when it removes nothing.
func TestFilterSDPCandidates(t *testing.T) {
	policy := newCandidatePolicy(netip.Addr{}, "", false)
	head := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
	line := func(addr string) string { return "a=candidate:1 1 udp 2130706431 " + addr + " 5000 typ host\r\n" }
	clean := head + line("198.51.100.1") + line("198.51.100.2")
	if out, kept, removed, err := filterSDPCandidates(clean, policy, 50); err != nil || out != clean || kept != 2 || removed != 0 {
		t.Fatalf("clean SDP: kept %d removed %d err %v, changed %v", kept, removed, err, out != clean)
	}
	dirty := head + line("169.254.169.254") + line("198.51.100.1") + line("198.51.100.2") + line("198.51.100.3")
	out, kept, removed, err := filterSDPCandidates(dirty, policy, 2)
	if err != nil || kept != 2 || removed != 2 {
		t.Fatalf("kept %d removed %d err %v, want 2 2", kept, removed, err)
	}
	if strings.Contains(out, "169.254.169.254") || strings.Contains(out, "198.51.100.3") || !strings.Contains(out, "198.51.100.2") {
		t.Fatalf("filtered SDP:\n%s", out)
	}
	if err := checkSDP(out, 4); err != nil {
		t.Fatalf("filtered SDP no longer parses: %v", err)
	}
}
