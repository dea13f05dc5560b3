package media

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/dtls/v2"
	"github.com/pion/ice/v2"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"
)

// DTLS 1.2 wire constants (RFC 6347 §4.1, §4.2.2; RFC 5764 §4.1.1 for use_srtp).
const (
	dtlsRecordHeaderLen    = 13
	dtlsHandshakeHeaderLen = 12
	dtlsContentHandshake   = 22
	dtlsServerHello        = 2
	extUseSRTP             = 14
)

// serverHello is one ServerHello seen on the client's socket.
type serverHello struct {
	random  [32]byte // identifies the handshake (retransmissions repeat it)
	profile uint16   // the SRTP protection profile the DTLS server selected; 0 if none
	sent    bool     // the client sent it (the client was the DTLS server)
}

// helloSniffer wraps a client's UDP socket and records every DTLS ServerHello
// that passes in either direction. The handshake is in clear text in DTLS 1.2,
// so this sees what the server picked without reaching into pion's internals.
type helloSniffer struct {
	net.PacketConn
	mu     sync.Mutex
	hellos []serverHello
}

func (s *helloSniffer) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := s.PacketConn.ReadFrom(b)
	if n > 0 {
		s.inspect(b[:n], false)
	}
	return n, addr, err
}

func (s *helloSniffer) WriteTo(b []byte, addr net.Addr) (int, error) {
	s.inspect(b, true)
	return s.PacketConn.WriteTo(b, addr)
}

// inspect walks the DTLS records of one datagram (RFC 7983: first byte 20..63).
func (s *helloSniffer) inspect(b []byte, sent bool) {
	if len(b) == 0 || b[0] < 20 || b[0] > 63 {
		return
	}
	for len(b) >= dtlsRecordHeaderLen {
		typ, epoch := b[0], binary.BigEndian.Uint16(b[3:5])
		n := int(binary.BigEndian.Uint16(b[11:13]))
		if len(b) < dtlsRecordHeaderLen+n {
			return
		}
		body := b[dtlsRecordHeaderLen : dtlsRecordHeaderLen+n]
		b = b[dtlsRecordHeaderLen+n:]
		if typ != dtlsContentHandshake || epoch != 0 || len(body) < dtlsHandshakeHeaderLen || body[0] != dtlsServerHello {
			continue
		}
		if h, ok := parseServerHello(body[dtlsHandshakeHeaderLen:]); ok {
			h.sent = sent
			s.mu.Lock()
			s.hellos = append(s.hellos, h)
			s.mu.Unlock()
		}
	}
}

// parseServerHello reads the random and the use_srtp extension of an unfragmented ServerHello body.
func parseServerHello(b []byte) (serverHello, bool) {
	var h serverHello
	// server_version(2) random(32) session_id<0..32>
	if len(b) < 35 {
		return h, false
	}
	copy(h.random[:], b[2:34])
	i := 35 + int(b[34])
	// cipher_suite(2) compression_method(1) extensions<0..2^16-1>
	if len(b) < i+5 {
		return h, false
	}
	i += 3
	end := i + 2 + int(binary.BigEndian.Uint16(b[i:]))
	if end > len(b) {
		return h, false
	}
	for i += 2; i+4 <= end; {
		typ, n := binary.BigEndian.Uint16(b[i:]), int(binary.BigEndian.Uint16(b[i+2:]))
		data := b[i+4 : min(i+4+n, end)]
		i += 4 + n
		// use_srtp from a server: profiles length (2, always 2) then the one selected profile.
		if typ == extUseSRTP && len(data) >= 4 {
			h.profile = binary.BigEndian.Uint16(data[2:])
		}
	}
	return h, true
}

func (s *helloSniffer) seen() []serverHello {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]serverHello(nil), s.hellos...)
}

// sniffingClientAPI is a loopback pion peer with pion's default SRTP profiles (what lkclient
// and server-sdk-go use) that sends all its traffic through sniffer. Use one per
// PeerConnection: the engine's single-port mux tells connections apart by remote address.
func sniffingClientAPI(t *testing.T, sniffer *helloSniffer) (*webrtc.API, func()) {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sniffer.PacketConn = udp
	mux := webrtc.NewICEUDPMux(nil, sniffer)
	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(mux)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)), func() { _ = mux.Close() }
}

// AEAD-AES-GCM must win SRTP negotiation with a pion client on both of a participant's
// PeerConnections, and media must then flow publisher → DownTrack → subscriber under it. The
// profile is read from the DTLS ServerHello on the wire. The engine is the DTLS server on both
// (it answers the publisher PC as server and offers actpass on the subscriber PC, which the
// peer answers active); note that pion's DTLS server takes the first profile in the client's
// list that it supports, so the peer's order decides (pion's default lists GCM first).
func TestSRTPNegotiatesAESGCM(t *testing.T) {
	defer goleak.VerifyNone(t)
	eng, err := NewEngine(Config{LoopbackOnly: true}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	pubSniffer, subSniffer := &helloSniffer{}, &helloSniffer{}
	pubAPI, closePubMux := sniffingClientAPI(t, pubSniffer)
	defer closePubMux()
	subAPI, closeSubMux := sniffingClientAPI(t, subSniffer)
	defer closeSubMux()

	// Publisher: the client offers, the engine answers.
	pubClient, pub, src, recvCh := loopbackPublisher(t, eng, pubAPI)
	defer pubClient.Close()
	defer pub.Close()

	stop := make(chan struct{})
	var sendWG sync.WaitGroup
	sendWG.Add(1)
	go func() {
		defer sendWG.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := uint32(0); ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			pl := vp8Delta
			if i%10 == 0 {
				pl = vp8Key
			}
			_ = src.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: i * 3000}, Payload: pl})
		}
	}()
	defer func() { close(stop); sendWG.Wait() }()
	r := waitReceiver(t, recvCh)
	defer r.Close()

	// Subscriber: the engine offers, the client answers.
	got := make(chan struct{}, 1)
	sub, subClient, dt, readWG := loopbackSubscriber(t, eng, subAPI, r, func(*webrtc.TrackRemote) {}, func(*rtp.Packet) {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	defer sub.Close()
	defer dt.Close()
	defer subClient.Close()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber received no media")
	}

	for _, pc := range []struct {
		name    string
		sniffer *helloSniffer
	}{{"publisher", pubSniffer}, {"subscriber", subSniffer}} {
		handshakes := map[[32]byte]serverHello{}
		for _, h := range pc.sniffer.seen() {
			if h.sent {
				t.Fatalf("%s PC: the client sent the ServerHello, so the engine was the DTLS client and the peer's order picked the profile", pc.name)
			}
			handshakes[h.random] = h
		}
		if len(handshakes) != 1 {
			t.Fatalf("%s PC: saw %d DTLS handshakes, want 1", pc.name, len(handshakes))
		}
		for _, h := range handshakes {
			if p := dtls.SRTPProtectionProfile(h.profile); p != dtls.SRTP_AEAD_AES_128_GCM && p != dtls.SRTP_AEAD_AES_256_GCM {
				t.Fatalf("%s PC: negotiated SRTP profile %#04x, want AEAD_AES_128_GCM (0x0007) or AEAD_AES_256_GCM (0x0008)", pc.name, h.profile)
			}
			t.Logf("%s PC: SRTP profile %#04x", pc.name, h.profile)
		}
	}

	_ = subClient.Close()
	_ = sub.Close()
	_ = pubClient.Close()
	_ = pub.Close()
	readWG.Wait()
	<-dt.RTCPDone()
}
