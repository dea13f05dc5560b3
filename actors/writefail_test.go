package actors

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// A subscriber whose transport closes under its DownTrack is removed by the track actor, the
// snapshot's owner: the DownTrack leaves the fan-out, the subscription is dropped and the client
// is told by a renegotiation that takes the track away, as an unsubscribe does.
//
// The failing transport is real: the subscriber's DownTrack is also added to a second server-side
// PeerConnection (made by the node's engine, answered by a plain pion peer), which then binds it,
// and that connection's ICE transport is stopped. pion then refuses every write with a closed
// pipe, which is what a subscriber whose transport closed looks like to the DownTrack.
func TestClosedSubscriberTransportIsUnsubscribed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, tracks := startTrackWatchingNode(t)

	alice := joinTestPeer(ctx, t, n, "writefail", "alice")
	defer alice.close()
	bob := joinTestPeer(ctx, t, n, "writefail", "bob")
	defer bob.close()
	trackSID := alice.publishAudio(ctx, t)

	got, err := bob.waitTrack(ctx, trackSID)
	if err != nil {
		t.Fatalf("bob never received alice's track: %v", err)
	}
	trackID := "node/rooms/writefail/alice/" + trackSID
	dt := tracks.subscriberDownTrack(trackID, "bob")
	if dt == nil {
		t.Fatalf("track %s lists no DownTrack for bob", trackID)
	}

	extra := bindElsewhere(ctx, t, n, dt)
	defer func() { _ = extra.Close() }()
	if err := extra.SCTP().Transport().ICETransport().Stop(); err != nil {
		t.Fatalf("stopping the extra transport: %v", err)
	}

	for tracks.subscriberDownTrack(trackID, "bob") != nil {
		if ctx.Err() != nil {
			t.Fatalf("the track actor never removed the DownTrack whose transport closed: %+v", dt.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-got.ended:
	case <-ctx.Done():
		t.Fatal("bob was never told: the track was not renegotiated away")
	}
	if st := dt.Stats(); st.WriteErrors == 0 {
		t.Fatalf("DownTrack stats %+v: no failed write was seen", st)
	}
}

// startTrackWatchingNode starts a loopback node whose track actors the test can inspect; the node
// is closed when the test ends.
func startTrackWatchingNode(t *testing.T) (*Node, *trackActors) {
	t.Helper()
	tracks := &trackActors{byID: map[string]*trackActor{}}
	n, err := NewNode(Config{
		Logger:             slog.New(slog.DiscardHandler),
		Media:              media.Config{BindIP: "127.0.0.1", LoopbackOnly: true},
		ReceiverMiddleware: []actor.ReceiverMiddleware{tracks.middleware},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	return n, tracks
}

// trackActors remembers every track actor a test node starts, through the node's receiver
// middleware hook, so a test can read the subscriber snapshot each one publishes.
type trackActors struct {
	mu   sync.Mutex
	byID map[string]*trackActor
}

func (ta *trackActors) middleware(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
		if _, started := env.Message.(*actor.Started); started {
			if t, ok := ctx.Actor().(*trackActor); ok {
				ta.mu.Lock()
				ta.byID[ctx.Self().Id] = t
				ta.mu.Unlock()
			}
		}
		next(ctx, env)
	}
}

// subscriberDownTrack returns the DownTrack the track actor with id lists for the subscriber with
// that identity, from the snapshot the track actor publishes; nil if there is none.
func (ta *trackActors) subscriberDownTrack(trackID, identity string) *media.DownTrack {
	ta.mu.Lock()
	t := ta.byID[trackID]
	ta.mu.Unlock()
	if t == nil {
		return nil
	}
	for _, s := range t.snapshot.load() {
		if strings.HasSuffix(s.actorID, "/"+identity) {
			return s.down
		}
	}
	return nil
}

// bindElsewhere adds dt to a new server-side subscriber PeerConnection of n's engine, negotiates
// it with a plain loopback pion peer and returns once that peer has received media from dt.
func bindElsewhere(ctx context.Context, t *testing.T, n *Node, dt *media.DownTrack) *webrtc.PeerConnection {
	t.Helper()
	server, err := n.engine.NewSubscriberPC()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.AddTrack(dt); err != nil {
		t.Fatal(err)
	}
	client := newLoopbackPC(t)
	t.Cleanup(func() { _ = client.Close() })
	up := make(chan struct{})
	var once sync.Once
	client.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			once.Do(func() { close(up) })
		}
	})
	offer := localDescription(t, server, true)
	if err := client.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	if err := server.SetRemoteDescription(localDescription(t, client, false)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-up:
	case <-ctx.Done():
		t.Fatal("the DownTrack never delivered through the extra connection")
	}
	return server
}

// localDescription creates an offer or answer on pc, sets it and returns it with every candidate.
func localDescription(t *testing.T, pc *webrtc.PeerConnection, offer bool) webrtc.SessionDescription {
	t.Helper()
	var sd webrtc.SessionDescription
	var err error
	if offer {
		sd, err = pc.CreateOffer(nil)
	} else {
		sd, err = pc.CreateAnswer(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(sd); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return *pc.LocalDescription()
}

// newLoopbackPC is a client PeerConnection with pion's default codecs that gathers loopback UDP4
// candidates only.
func newLoopbackPC(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" || name == "lo0" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// chanSink is a SignalSink that hands responses to the test peer's loop.
type chanSink struct {
	ch     chan *livekit.SignalResponse
	mu     sync.Mutex
	closed bool
}

func (s *chanSink) Send(r *livekit.SignalResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return io.ErrClosedPipe
	}
	select {
	case s.ch <- r:
		return nil
	default:
		return errors.New("test sink full")
	}
}

func (s *chanSink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

// testPeer is a minimal LiveKit client on real pion PeerConnections: it answers the server's
// subscriber offers, publishes on request and records the tracks it receives.
type testPeer struct {
	t         *testing.T
	sess      *Session
	sink      *chanSink
	pub, sub  *webrtc.PeerConnection
	published chan *livekit.TrackPublishedResponse
	answers   chan webrtc.SessionDescription
	stop      chan struct{}
	wg        sync.WaitGroup

	mu     sync.Mutex
	tracks map[string]*receivedTrack // by track SID (the stream's msid track id)
}

// receivedTrack is one remote track; ended closes when its RTP stream ends.
type receivedTrack struct {
	ended chan struct{}
}

func joinTestPeer(ctx context.Context, t *testing.T, n *Node, room, identity string) *testPeer {
	t.Helper()
	p := &testPeer{
		t:         t,
		sink:      &chanSink{ch: make(chan *livekit.SignalResponse, 256)},
		pub:       newLoopbackPC(t),
		sub:       newLoopbackPC(t),
		published: make(chan *livekit.TrackPublishedResponse, 4),
		answers:   make(chan webrtc.SessionDescription, 4),
		stop:      make(chan struct{}),
		tracks:    map[string]*receivedTrack{},
	}
	p.pub.OnICECandidate(func(c *webrtc.ICECandidate) { p.trickle(c, livekit.SignalTarget_PUBLISHER) })
	p.sub.OnICECandidate(func(c *webrtc.ICECandidate) { p.trickle(c, livekit.SignalTarget_SUBSCRIBER) })
	p.sub.OnTrack(p.received)
	sess, err := n.Join(ctx, JoinRequest{Room: room, Identity: identity, AutoSubscribe: true, Sink: p.sink})
	if err != nil {
		t.Fatalf("join %s: %v", identity, err)
	}
	p.sess = sess
	p.wg.Add(1)
	go p.signalLoop()
	return p
}

func (p *testPeer) trickle(c *webrtc.ICECandidate, target livekit.SignalTarget) {
	if c == nil {
		return
	}
	init, err := json.Marshal(c.ToJSON())
	if err != nil {
		return
	}
	p.sess.Signal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{
		CandidateInit: string(init), Target: target,
	}}})
}

// signalLoop handles the server's responses until the sink closes or the peer stops.
func (p *testPeer) signalLoop() {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		case r, ok := <-p.sink.ch:
			if !ok {
				return
			}
			p.handle(r)
		}
	}
}

func (p *testPeer) handle(r *livekit.SignalResponse) {
	switch m := r.GetMessage().(type) {
	case *livekit.SignalResponse_Offer:
		p.answerOffer(m.Offer)
	case *livekit.SignalResponse_Answer:
		p.answers <- webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.Answer.GetSdp()}
	case *livekit.SignalResponse_Trickle:
		var init webrtc.ICECandidateInit
		if json.Unmarshal([]byte(m.Trickle.GetCandidateInit()), &init) != nil || init.Candidate == "" {
			return
		}
		pc := p.pub
		if m.Trickle.GetTarget() == livekit.SignalTarget_SUBSCRIBER {
			pc = p.sub
		}
		_ = pc.AddICECandidate(init)
	case *livekit.SignalResponse_TrackPublished:
		p.published <- m.TrackPublished
	}
}

func (p *testPeer) answerOffer(o *livekit.SessionDescription) {
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.GetSdp()}); err != nil {
		p.t.Errorf("subscriber offer: %v", err)
		return
	}
	answer, err := p.sub.CreateAnswer(nil)
	if err == nil {
		err = p.sub.SetLocalDescription(answer)
	}
	if err != nil {
		p.t.Errorf("subscriber answer: %v", err)
		return
	}
	p.sess.Signal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{
		Type: "answer", Sdp: answer.SDP, Id: o.GetId(),
	}}})
}

// received records a remote track under its SID and reads it until its stream ends.
func (p *testPeer) received(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	rt := &receivedTrack{ended: make(chan struct{})}
	p.mu.Lock()
	p.tracks[tr.ID()] = rt
	p.mu.Unlock()
	go func() {
		for {
			if _, _, err := recv.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	defer close(rt.ended)
	for {
		if _, _, err := tr.ReadRTP(); err != nil {
			return
		}
	}
}

// waitTrack waits until media of the track with that SID arrives.
func (p *testPeer) waitTrack(ctx context.Context, sid string) (*receivedTrack, error) {
	for {
		p.mu.Lock()
		rt := p.tracks[sid]
		p.mu.Unlock()
		if rt != nil {
			return rt, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// publishAudio announces and sends an Opus track, keeps sending until the peer closes, and
// returns the track's SID.
func (p *testPeer) publishAudio(ctx context.Context, t *testing.T) string {
	t.Helper()
	p.sess.Signal(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
		Cid: "mic", Name: "mic", Type: livekit.TrackType_AUDIO, Source: livekit.TrackSource_MICROPHONE,
	}}})
	var sid string
	select {
	case r := <-p.published:
		sid = r.GetTrack().GetSid()
	case <-ctx.Done():
		t.Fatal("add_track was never answered")
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "mic-stream")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.pub.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer := localDescription(t, p.pub, true)
	p.sess.Signal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{
		Type: "offer", Sdp: offer.SDP, Id: 1,
	}}})
	select {
	case a := <-p.answers:
		if err := p.pub.SetRemoteDescription(a); err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the publisher offer was never answered")
	}
	p.wg.Add(1)
	go p.sendAudio(track)
	return sid
}

func (p *testPeer) sendAudio(track *webrtc.TrackLocalStaticRTP) {
	defer p.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	payload := []byte{0xfc, 0xff, 0xfe}
	for i := 0; ; i++ {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * 960)}, Payload: payload}
		_ = track.WriteRTP(pkt)
	}
}

// close stops the peer's goroutines before its connections, so that no answer is attempted on a
// closing PeerConnection.
func (p *testPeer) close() {
	close(p.stop)
	p.wg.Wait()
	p.sess.Close(false)
	_ = p.pub.Close()
	_ = p.sub.Close()
}
