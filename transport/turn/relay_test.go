package turn

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// TestRelayOnlyClientReachesNode: a pion client that may use nothing but
// relay candidates connects to the node's real media engine through the
// embedded TURN server, once per transport, with a data channel and an
// audio track flowing both ways.
func TestRelayOnlyClientReachesNode(t *testing.T) {
	for _, tc := range []struct{ name, scheme, transport string }{
		{"udp", "turn:", "transport=udp"},
		{"tcp", "turn:", "transport=tcp"},
		{"tls", "turns:", "transport=tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			eng, err := media.NewEngine(media.Config{LoopbackOnly: true}, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			mediaPort := eng.UDPAddr().Port
			srv := startServer(t, testConfig(), []PortRange{{mediaPort, mediaPort}}, nil)
			defer srv.Close()
			servers := pickURL(t, srv.ICEServers("PA_relay"+tc.name, false), tc.scheme, tc.transport)

			p := connectThroughRelay(t, eng, servers)
			defer p.close()
			p.exchange(t)
			if got := p.localCandidateType(); got != webrtc.ICECandidateTypeRelay {
				t.Fatalf("client's selected candidate is %v, want relay", got)
			}
			if srv.AllocationCount() == 0 {
				t.Fatal("the TURN server holds no allocation")
			}
			if tc.name != "udp" && openConns(srv) == 0 {
				t.Fatalf("no %s connection on the TURN server", tc.name)
			}
		})
	}
}

// pickURL keeps only the URL with the given scheme and transport, so the
// client has exactly one way in.
func pickURL(t *testing.T, servers []*livekit.ICEServer, scheme, transport string) []webrtc.ICEServer {
	t.Helper()
	if len(servers) != 1 {
		t.Fatalf("embedded TURN gave %d ICEServers, want 1", len(servers))
	}
	s := servers[0]
	for _, u := range s.Urls {
		if strings.HasPrefix(u, scheme) && strings.HasSuffix(u, transport) {
			return []webrtc.ICEServer{{URLs: []string{u}, Username: s.Username, Credential: s.Credential}}
		}
	}
	t.Fatalf("no %s…%s URL in %v", scheme, transport, s.Urls)
	return nil
}

// openConns counts TCP/TLS connections the server holds.
func openConns(s *Server) int { return s.Stats().Connections }

// relayPair is a relay-only client PeerConnection and the node's publisher
// PeerConnection it talks to.
type relayPair struct {
	client, node           *webrtc.PeerConnection
	clientTrack, nodeTrack *webrtc.TrackLocalStaticRTP
	clientDC               *webrtc.DataChannel

	mu          sync.Mutex
	clientGot   []string // data channel messages the client received
	clientAudio chan []byte
	nodeAudio   chan []byte
	stop        chan struct{}
	wg          sync.WaitGroup
}

// connectThroughRelay builds both sides and negotiates without trickle.
func connectThroughRelay(t *testing.T, eng *media.Engine, servers []webrtc.ICEServer) *relayPair {
	t.Helper()
	p := &relayPair{clientAudio: make(chan []byte, 64), nodeAudio: make(chan []byte, 64), stop: make(chan struct{})}
	var err error
	if p.client, err = relayOnlyPC(servers); err != nil {
		t.Fatal(err)
	}
	if p.node, err = eng.NewPublisherPC(); err != nil {
		t.Fatal(err)
	}
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	p.clientTrack, _ = webrtc.NewTrackLocalStaticRTP(opus, "audio", "client")
	p.nodeTrack, _ = webrtc.NewTrackLocalStaticRTP(opus, "audio", "node")
	if _, err := p.client.AddTrack(p.clientTrack); err != nil {
		t.Fatal(err)
	}
	p.client.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { p.drain(tr, p.clientAudio) })
	p.node.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { p.drain(tr, p.nodeAudio) })
	p.node.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnOpen(func() { _ = dc.SendText("hello from node") })
		dc.OnMessage(func(m webrtc.DataChannelMessage) { _ = dc.SendText("node echoes " + string(m.Data)) })
	})
	if p.clientDC, err = p.client.CreateDataChannel("data", nil); err != nil {
		t.Fatal(err)
	}
	p.clientDC.OnMessage(func(m webrtc.DataChannelMessage) {
		p.mu.Lock()
		p.clientGot = append(p.clientGot, string(m.Data))
		p.mu.Unlock()
	})
	if err := negotiate(p.client, p.node, func() error { _, err := p.node.AddTrack(p.nodeTrack); return err }); err != nil {
		t.Fatal(err)
	}
	return p
}

// relayOnlyPC is a client that gathers relay candidates only.
func relayOnlyPC(servers []webrtc.ICEServer) (*webrtc.PeerConnection, error) {
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
	return api.NewPeerConnection(webrtc.Configuration{ICEServers: servers, ICETransportPolicy: webrtc.ICETransportPolicyRelay})
}

// negotiate runs offer/answer with complete gathering on both sides;
// beforeAnswer runs on the answerer once the offer is applied.
func negotiate(offerer, answerer *webrtc.PeerConnection, beforeAnswer func() error) error {
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		return err
	}
	done := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		return err
	}
	<-done
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		return err
	}
	if err := beforeAnswer(); err != nil {
		return err
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		return err
	}
	done = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		return err
	}
	<-done
	if !strings.Contains(offerer.LocalDescription().SDP, "typ relay") {
		return fmt.Errorf("client gathered no relay candidate:\n%s", offerer.LocalDescription().SDP)
	}
	return offerer.SetRemoteDescription(*answerer.LocalDescription())
}

// drain forwards the payload of every RTP packet of tr to out.
func (p *relayPair) drain(tr *webrtc.TrackRemote, out chan<- []byte) { drainRTP(tr, out) }

// drainRTP forwards the payload of every RTP packet of tr to out, dropping
// what out has no room for.
func drainRTP(tr *webrtc.TrackRemote, out chan<- []byte) {
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		select {
		case out <- append([]byte(nil), pkt.Payload...):
		default:
		}
	}
}

// exchange sends audio both ways and a data message each way, and waits
// until each side got the other's.
func (p *relayPair) exchange(t *testing.T) {
	t.Helper()
	p.wg.Add(2)
	go p.send(p.clientTrack, "client")
	go p.send(p.nodeTrack, "node")
	waitPayload(t, p.nodeAudio, "audio from client", 15*time.Second)
	waitPayload(t, p.clientAudio, "audio from node", 5*time.Second)
	if !eventually(5*time.Second, func() bool { return p.clientDC.ReadyState() == webrtc.DataChannelStateOpen }) {
		t.Fatal("data channel did not open through the relay")
	}
	if err := p.clientDC.SendText("ping"); err != nil {
		t.Fatal(err)
	}
	if !eventually(5*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return strings.Contains(strings.Join(p.clientGot, ","), "hello from node") &&
			strings.Contains(strings.Join(p.clientGot, ","), "node echoes ping")
	}) {
		t.Fatalf("data channel: client got %v", p.clientGot)
	}
}

// send writes an RTP packet every 20 ms until stop.
func (p *relayPair) send(tr *webrtc.TrackLocalStaticRTP, who string) {
	sendAudio(tr, who, p.stop, &p.wg)
}

// sendAudio writes an RTP packet every 20 ms until stop, then marks wg done.
func sendAudio(tr *webrtc.TrackLocalStaticRTP, who string, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for seq := uint16(0); ; seq++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
			Payload: []byte(fmt.Sprintf("audio from %s #%d", who, seq))}
		_ = tr.WriteRTP(pkt)
	}
}

// waitPayload waits for a payload starting with prefix.
func waitPayload(t *testing.T, ch <-chan []byte, prefix string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case b := <-ch:
			if bytes.HasPrefix(b, []byte(prefix)) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q within %v", prefix, d)
		}
	}
}

// localCandidateType is the type of the client's selected local candidate.
func (p *relayPair) localCandidateType() webrtc.ICECandidateType {
	pair, err := p.client.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return webrtc.ICECandidateType(0)
	}
	return pair.Local.Typ
}

func (p *relayPair) close() {
	close(p.stop)
	p.wg.Wait()
	_ = p.client.Close()
	_ = p.node.Close()
}
