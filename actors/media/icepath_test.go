package media

import (
	"testing"

	"github.com/pion/webrtc/v3"
)

// PathOf names the transport from the pair: a relay candidate on either end is "relay",
// otherwise the protocol.
func TestPathOfNamesTheTransport(t *testing.T) {
	cand := func(typ webrtc.ICECandidateType, proto webrtc.ICEProtocol, addr string, port uint16) *webrtc.ICECandidate {
		return &webrtc.ICECandidate{Typ: typ, Protocol: proto, Address: addr, Port: port}
	}
	cases := []struct {
		pair *webrtc.ICECandidatePair
		want ICEPath
	}{
		{webrtc.NewICECandidatePair(cand(webrtc.ICECandidateTypeHost, webrtc.ICEProtocolUDP, "10.0.0.1", 7882), cand(webrtc.ICECandidateTypeSrflx, webrtc.ICEProtocolUDP, "203.0.113.5", 50000)),
			ICEPath{"udp", "host", "srflx", "10.0.0.1:7882", "203.0.113.5:50000"}},
		{webrtc.NewICECandidatePair(cand(webrtc.ICECandidateTypeHost, webrtc.ICEProtocolTCP, "10.0.0.1", 7881), cand(webrtc.ICECandidateTypePrflx, webrtc.ICEProtocolTCP, "203.0.113.5", 9)),
			ICEPath{"tcp", "host", "prflx", "10.0.0.1:7881", "203.0.113.5:9"}},
		{webrtc.NewICECandidatePair(cand(webrtc.ICECandidateTypeHost, webrtc.ICEProtocolUDP, "fd00::1", 7882), cand(webrtc.ICECandidateTypeRelay, webrtc.ICEProtocolUDP, "198.51.100.7", 31000)),
			ICEPath{"relay", "host", "relay", "[fd00::1]:7882", "198.51.100.7:31000"}},
		{nil, ICEPath{}},
	}
	for _, c := range cases {
		if got := PathOf(c.pair); got != c.want {
			t.Errorf("PathOf(%v) = %+v, want %+v", c.pair, got, c.want)
		}
	}
}
