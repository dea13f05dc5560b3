package media

import (
	"fmt"
	"net"
	"strconv"

	"github.com/pion/webrtc/v3"
)

// ICEPath is the candidate pair a PeerConnection's ICE transport selected:
// how the media of that PeerConnection travels.
type ICEPath struct {
	// Transport is "udp", "tcp" or "relay" (either candidate is a TURN relay).
	Transport string
	// Local and Remote are the candidate types: host, srflx, prflx or relay.
	Local, Remote string
	// LocalAddr and RemoteAddr are the candidates' addresses (ip:port).
	LocalAddr, RemoteAddr string
}

// String is the path in one short line, e.g. "udp host 127.0.0.1:7882 ↔ host 127.0.0.1:50000".
func (p ICEPath) String() string {
	return fmt.Sprintf("%s %s %s <-> %s %s", p.Transport, p.Local, p.LocalAddr, p.Remote, p.RemoteAddr)
}

// PathOf describes a selected candidate pair.
func PathOf(pair *webrtc.ICECandidatePair) ICEPath {
	if pair == nil || pair.Local == nil || pair.Remote == nil {
		return ICEPath{}
	}
	p := ICEPath{
		Transport:  pair.Local.Protocol.String(),
		Local:      pair.Local.Typ.String(),
		Remote:     pair.Remote.Typ.String(),
		LocalAddr:  net.JoinHostPort(pair.Local.Address, strconv.Itoa(int(pair.Local.Port))),
		RemoteAddr: net.JoinHostPort(pair.Remote.Address, strconv.Itoa(int(pair.Remote.Port))),
	}
	if pair.Local.Typ == webrtc.ICECandidateTypeRelay || pair.Remote.Typ == webrtc.ICECandidateTypeRelay {
		p.Transport = "relay"
	}
	return p
}

// WatchPath calls fn with the path each time ICE selects a candidate pair on
// pc (the first selection and every switch, e.g. UDP to TCP or to a relay),
// from one of pion's goroutines. It is the only user of the ICE transport's
// selected-pair callback.
func WatchPath(pc *webrtc.PeerConnection, fn func(ICEPath)) {
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(pair *webrtc.ICECandidatePair) {
		fn(PathOf(pair))
	})
}
