package turn

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// TestRelayOnlyParticipantsThroughNode: the real node (actors.NewNode) hands
// the embedded TURN's ICEServers out in JoinResponse; alice publishes audio
// and data through TURN/UDP, bob subscribes through TURN/TCP; both may use
// relay candidates only. What alice sends arrives at bob unchanged.
func TestRelayOnlyParticipantsThroughNode(t *testing.T) {
	defer goleak.VerifyNone(t)
	mediaPort := freeUDPPort(t)
	srv := startServer(t, testConfig(), []PortRange{{mediaPort, mediaPort}}, nil)
	defer srv.Close()
	node, err := actors.NewNode(actors.Config{
		Logger:     testLog(t),
		Media:      media.Config{BindIP: "127.0.0.1", UDPPort: mediaPort, LoopbackOnly: true},
		ICEServers: srv.ICEServers("PA_static", false), // the lead mints per participant instead
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = node.Close(ctx)
	}()
	bob := joinThroughRelay(t, node, "bob", "?transport=tcp")
	defer bob.close()
	alice := joinThroughRelay(t, node, "alice", "?transport=udp")
	defer alice.close()

	alice.publish(t)
	waitPayload(t, bob.audio, "audio from alice", 15*time.Second)
	pkt := &livekit.DataPacket{Kind: livekit.DataPacket_RELIABLE, Value: &livekit.DataPacket_User{User: &livekit.UserPacket{Payload: []byte("hello bob")}}}
	b, _ := proto.Marshal(pkt)
	if !eventually(10*time.Second, func() bool { return alice.dc.ReadyState() == webrtc.DataChannelStateOpen }) {
		t.Fatal("alice's data channel did not open through the relay")
	}
	if err := alice.dc.Send(b); err != nil {
		t.Fatal(err)
	}
	waitPayload(t, bob.data, "hello bob", 10*time.Second)
	for name, pc := range map[string]*webrtc.PeerConnection{"alice's publisher PC": alice.pub, "bob's subscriber PC": bob.sub} {
		if st := pc.ConnectionState(); st != webrtc.PeerConnectionStateConnected {
			t.Errorf("%s is %v", name, st)
		}
		if typ := selectedLocalType(pc); typ != webrtc.ICECandidateTypeRelay {
			t.Errorf("%s: selected local candidate %v, want relay", name, typ)
		}
	}
	if srv.AllocationCount() < 2 || openConns(srv) == 0 {
		t.Fatalf("TURN server: %d allocations, %d TCP connections; want both participants on it", srv.AllocationCount(), openConns(srv))
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func selectedLocalType(pc *webrtc.PeerConnection) webrtc.ICECandidateType {
	if pc.SCTP() == nil {
		return webrtc.ICECandidateType(0)
	}
	pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return webrtc.ICECandidateType(0)
	}
	return pair.Local.Typ
}

// sink is the participant's SignalSink: a buffered channel.
type sink chan *livekit.SignalResponse

func (s sink) Send(r *livekit.SignalResponse) error {
	select {
	case s <- r:
		return nil
	default:
		return errors.New("sink full")
	}
}

func (s sink) Close() {}

// miniParticipant is the smallest LiveKit client that can publish and
// subscribe: two relay-only PeerConnections, answers to the node's
// subscriber offers, trickle in both directions.
type miniParticipant struct {
	identity string
	sess     *actors.Session
	sink     sink
	pub, sub *webrtc.PeerConnection
	dc       *webrtc.DataChannel
	track    *webrtc.TrackLocalStaticRTP
	audio    chan []byte
	data     chan []byte
	answered chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
}

// joinThroughRelay joins the room and keeps, of the JoinResponse's ICE
// servers, only the TURN URLs ending in transport.
func joinThroughRelay(t *testing.T, node *actors.Node, identity, transport string) *miniParticipant {
	t.Helper()
	p := &miniParticipant{identity: identity, sink: make(sink, 256), audio: make(chan []byte, 64),
		data: make(chan []byte, 16), answered: make(chan struct{}, 4), stop: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	p.sess, err = node.Join(ctx, actors.JoinRequest{Room: "turn", Identity: identity, AutoSubscribe: true, Sink: p.sink,
		Permission: &livekit.ParticipantPermission{CanPublish: true, CanSubscribe: true, CanPublishData: true}})
	if err != nil {
		t.Fatal(err)
	}
	join := (<-p.sink).GetJoin()
	if join == nil {
		t.Fatal("first response is not a JoinResponse")
	}
	servers := turnOnly(join.GetIceServers(), transport)
	if len(servers) == 0 {
		t.Fatalf("JoinResponse ice_servers %v carry no TURN URL with %s", join.GetIceServers(), transport)
	}
	if p.pub, err = relayOnlyPC(servers); err != nil {
		t.Fatal(err)
	}
	if p.sub, err = relayOnlyPC(servers); err != nil {
		t.Fatal(err)
	}
	p.sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { drainRTP(tr, p.audio) })
	p.sub.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			var pkt livekit.DataPacket
			if proto.Unmarshal(m.Data, &pkt) == nil {
				p.data <- pkt.GetUser().GetPayload()
			}
		})
	})
	p.wg.Add(1)
	go p.pump()
	return p
}

// turnOnly converts the TURN URLs with the given transport suffix.
func turnOnly(list []*livekit.ICEServer, transport string) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, s := range list {
		for _, u := range s.GetUrls() {
			if strings.HasPrefix(u, "turn") && strings.HasSuffix(u, transport) {
				out = append(out, webrtc.ICEServer{URLs: []string{u}, Username: s.GetUsername(), Credential: s.GetCredential()})
			}
		}
	}
	return out
}

// publish adds an audio track and the reliable data channel, negotiates
// the publisher PC and starts sending audio.
func (p *miniParticipant) publish(t *testing.T) {
	t.Helper()
	var err error
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	if p.track, err = webrtc.NewTrackLocalStaticRTP(opus, "TR_cid_alice", p.sess.ParticipantSID()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.pub.AddTransceiverFromTrack(p.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	if p.dc, err = p.pub.CreateDataChannel("_reliable", nil); err != nil {
		t.Fatal(err)
	}
	p.sess.Signal(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
		Cid: "TR_cid_alice", Name: "mic", Type: livekit.TrackType_AUDIO, Source: livekit.TrackSource_MICROPHONE}}})
	sdp, err := gathered(p.pub, p.pub.CreateOffer)
	if err != nil {
		t.Fatal(err)
	}
	p.sess.Signal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: sdp, Id: 1}}})
	select {
	case <-p.answered:
	case <-time.After(10 * time.Second):
		t.Fatal("no publisher answer")
	}
	p.wg.Add(1)
	go sendAudio(p.track, "alice", p.stop, &p.wg)
}

// gathered sets a local description made by create and returns it once
// every candidate is in it (no trickle from our side).
func gathered(pc *webrtc.PeerConnection, create func(*webrtc.OfferOptions) (webrtc.SessionDescription, error)) (string, error) {
	sd, err := create(nil)
	if err != nil {
		return "", err
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(sd); err != nil {
		return "", err
	}
	<-done
	return pc.LocalDescription().SDP, nil
}

// pump handles the node's responses until stop.
func (p *miniParticipant) pump() {
	defer p.wg.Done()
	var pending []webrtc.ICECandidateInit // subscriber candidates before its offer
	for {
		var r *livekit.SignalResponse
		select {
		case <-p.stop:
			return
		case r = <-p.sink:
		}
		switch m := r.GetMessage().(type) {
		case *livekit.SignalResponse_Answer:
			_ = p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.Answer.GetSdp()})
			p.answered <- struct{}{}
		case *livekit.SignalResponse_Offer:
			pending = p.answerSubscriber(m.Offer, pending)
		case *livekit.SignalResponse_Trickle:
			var init webrtc.ICECandidateInit
			if json.Unmarshal([]byte(m.Trickle.GetCandidateInit()), &init) != nil {
				continue
			}
			pc := p.pub
			if m.Trickle.GetTarget() == livekit.SignalTarget_SUBSCRIBER {
				pc = p.sub
			}
			if pc.RemoteDescription() == nil {
				pending = append(pending, init)
				continue
			}
			_ = pc.AddICECandidate(init)
		}
	}
}

// answerSubscriber answers a subscriber offer and applies the candidates
// that came before it.
func (p *miniParticipant) answerSubscriber(offer *livekit.SessionDescription, pending []webrtc.ICECandidateInit) []webrtc.ICECandidateInit {
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.GetSdp()}); err != nil {
		return pending
	}
	for _, c := range pending {
		_ = p.sub.AddICECandidate(c)
	}
	sdp, err := gathered(p.sub, func(*webrtc.OfferOptions) (webrtc.SessionDescription, error) { return p.sub.CreateAnswer(nil) })
	if err == nil {
		p.sess.Signal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{Type: "answer", Sdp: sdp, Id: offer.GetId()}}})
	}
	return nil
}

func (p *miniParticipant) close() {
	p.sess.Signal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{}}})
	close(p.stop)
	p.wg.Wait()
	_ = p.pub.Close()
	_ = p.sub.Close()
}
