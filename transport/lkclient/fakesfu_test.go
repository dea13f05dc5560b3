package lkclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
)

// fakeSFU is a minimal v0 /rtc server for testing the client without the
// real node: it joins the caller as "alice" next to a publishing "bob",
// offers bob's synthetic VP8 track on the subscriber PC (trickling its
// candidates BEFORE the offer, to exercise the client's queue), answers
// publisher offers, acknowledges add_track, echoes data back stamped with
// the sender, and records every request.
type fakeSFU struct {
	t   *testing.T
	api *webrtc.API
	srv *httptest.Server

	mu       sync.Mutex
	sessions []*fakeSession
}

type fakeSession struct {
	sfu    *fakeSFU
	ws     *websocket.Conn
	wmu    sync.Mutex
	json   bool
	sub    *webrtc.PeerConnection
	pub    *webrtc.PeerConnection
	subDCs map[string]*webrtc.DataChannel
	bob    *webrtc.TrackLocalStaticSample
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	mu        sync.Mutex
	requests  []*livekit.SignalRequest
	frames    []lkmedia.Frame // published video, reassembled
	rids      map[string]int  // published video packets by rid
	pubRemote bool
	pending   []webrtc.ICECandidateInit
}

func newFakeSFU(t *testing.T) *fakeSFU {
	t.Helper()
	api, err := lkclient.NewLoopbackAPI()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSFU{t: t, api: api}
	mux := http.NewServeMux()
	mux.HandleFunc("/rtc", f.serveRTC)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.close)
	return f
}

func (f *fakeSFU) url() string { return f.srv.URL }

func (f *fakeSFU) close() {
	f.srv.CloseClientConnections()
	f.srv.Close()
	f.mu.Lock()
	ss := f.sessions
	f.mu.Unlock()
	for _, s := range ss {
		s.close()
	}
}

func (f *fakeSFU) session(t *testing.T) *fakeSession {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sessions) == 0 {
		t.Fatal("no session")
	}
	return f.sessions[len(f.sessions)-1]
}

func (f *fakeSFU) serveRTC(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("access_token")
	if h := r.Header.Get("Authorization"); h != "" {
		tok = strings.TrimPrefix(h, "Bearer ")
	}
	if tok != "good" {
		http.Error(w, "invalid authorization token", http.StatusUnauthorized)
		return
	}
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s := &fakeSession{sfu: f, ws: ws, subDCs: map[string]*webrtc.DataChannel{}, done: make(chan struct{})}
	f.mu.Lock()
	f.sessions = append(f.sessions, s)
	f.mu.Unlock()
	if err := s.start(); err != nil {
		f.t.Errorf("fake sfu: %v", err)
		s.close()
		return
	}
	s.readLoop()
}

func (s *fakeSession) send(res *livekit.SignalResponse) {
	s.mu.Lock()
	asJSON := s.json // written by readLoop under mu
	s.mu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	mt, b, err := encodeResponse(res, asJSON)
	if err == nil {
		err = s.ws.WriteMessage(mt, b)
	}
	_ = err // the client may be gone
}

func (s *fakeSession) start() error {
	var err error
	s.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Join{Join: &livekit.JoinResponse{
		Room:        &livekit.Room{Sid: "RM_1", Name: "r"},
		Participant: &livekit.ParticipantInfo{Sid: "PA_alice", Identity: "alice", State: livekit.ParticipantInfo_JOINED, Version: 1},
		OtherParticipants: []*livekit.ParticipantInfo{{Sid: "PA_bob", Identity: "bob", State: livekit.ParticipantInfo_ACTIVE, Version: 3,
			Tracks: []*livekit.TrackInfo{{Sid: "TR_bobv", Type: livekit.TrackType_VIDEO, MimeType: "video/VP8"}}}},
		SubscriberPrimary: true, PingInterval: 1, PingTimeout: 15,
		ServerInfo: &livekit.ServerInfo{Version: "1.9.0"},
	}}})
	if s.sub, err = s.sfu.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		return err
	}
	if s.pub, err = s.sfu.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		return err
	}
	for _, label := range []string{lkclient.ReliableLabel, lkclient.LossyLabel} {
		dc, err := s.sub.CreateDataChannel(label, nil)
		if err != nil {
			return err
		}
		s.subDCs[label] = dc
	}
	if s.bob, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "TR_bobv", "PA_bob|TR_bobv"); err != nil {
		return err
	}
	if _, err = s.sub.AddTransceiverFromTrack(s.bob, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		return err
	}
	s.pub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		a := lkmedia.NewVP8Assembler()
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.rids == nil {
				s.rids = map[string]int{}
			}
			s.rids[tr.RID()]++
			if tr.RID() == "" || tr.RID() == "f" {
				s.frames = append(s.frames, a.Push(p)...)
			}
			s.mu.Unlock()
		}
	})
	s.pub.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			d, err := lkclient.DecodeDataPacket(m.Data)
			if err != nil {
				return
			}
			d.Packet.ParticipantIdentity, d.Packet.ParticipantSid = "alice", "PA_alice"
			b, _ := protoMarshal(d.Packet)
			if out := s.subDCs[dc.Label()]; out != nil {
				_ = out.Send(b)
			}
		})
	})
	// Offer with candidates trickled first.
	offer, err := s.sub.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(s.sub)
	if err := s.sub.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gathered
	for _, c := range candidatesOf(s.sub.LocalDescription().SDP) {
		s.send(trickleResponse(c, livekit.SignalTarget_SUBSCRIBER))
	}
	s.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: offer.SDP, Id: 7}}})
	s.wg.Add(1)
	go s.publishBob()
	return nil
}

// publishBob writes synthetic VP8 as "bob" until the session ends.
func (s *fakeSession) publishBob() {
	defer s.wg.Done()
	g := synth.NewVP8Generator(320, 240, 3000, 10)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
			_ = s.bob.WriteSample(media.Sample{Data: g.Next(), Duration: 20 * time.Millisecond})
		}
	}
}

func (s *fakeSession) readLoop() {
	defer s.close()
	for {
		mt, b, err := s.ws.ReadMessage()
		if err != nil {
			return
		}
		req, err := decodeRequest(mt, b)
		if err != nil {
			s.sfu.t.Errorf("fake sfu: %v", err)
			return
		}
		s.mu.Lock()
		s.json = mt == websocket.TextMessage
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		switch m := req.GetMessage().(type) {
		case *livekit.SignalRequest_Answer:
			if m.Answer.GetId() != 7 {
				s.sfu.t.Errorf("answer id %d, want 7", m.Answer.GetId())
			}
			_ = s.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.Answer.GetSdp()})
		case *livekit.SignalRequest_Offer:
			s.answerPublisher(m.Offer)
		case *livekit.SignalRequest_Trickle:
			s.addCandidate(m.Trickle)
		case *livekit.SignalRequest_AddTrack:
			s.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_TrackPublished{TrackPublished: &livekit.TrackPublishedResponse{
				Cid: m.AddTrack.GetCid(), Track: &livekit.TrackInfo{Sid: "TR_" + m.AddTrack.GetCid(), Type: m.AddTrack.GetType()},
			}}})
		case *livekit.SignalRequest_Leave:
			return
		}
	}
}

func (s *fakeSession) answerPublisher(sd *livekit.SessionDescription) {
	if err := s.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sd.GetSdp()}); err != nil {
		s.sfu.t.Errorf("fake sfu: publisher offer: %v", err)
		return
	}
	s.mu.Lock()
	s.pubRemote = true
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, c := range pending {
		_ = s.pub.AddICECandidate(c)
	}
	ans, err := s.pub.CreateAnswer(nil)
	if err != nil {
		s.sfu.t.Errorf("fake sfu: answer: %v", err)
		return
	}
	gathered := webrtc.GatheringCompletePromise(s.pub)
	_ = s.pub.SetLocalDescription(ans)
	<-gathered
	s.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Answer{Answer: &livekit.SessionDescription{
		Type: "answer", Sdp: s.pub.LocalDescription().SDP, Id: sd.GetId(),
	}}})
}

func (s *fakeSession) addCandidate(t *livekit.TrickleRequest) {
	var init webrtc.ICECandidateInit
	if err := jsonUnmarshal(t.GetCandidateInit(), &init); err != nil {
		s.sfu.t.Errorf("fake sfu: candidate %q: %v", t.GetCandidateInit(), err)
		return
	}
	if t.GetTarget() == livekit.SignalTarget_SUBSCRIBER {
		if err := s.sub.AddICECandidate(init); err != nil {
			s.sfu.t.Errorf("fake sfu: subscriber candidate before answer: %v", err)
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.pubRemote {
		s.pending = append(s.pending, init)
		return
	}
	_ = s.pub.AddICECandidate(init)
}

func (s *fakeSession) close() { s.once.Do(s.doClose) }

func (s *fakeSession) doClose() {
	close(s.done)
	_ = s.ws.Close()
	if s.sub != nil {
		_ = s.sub.Close()
	}
	if s.pub != nil {
		_ = s.pub.Close()
	}
	s.wg.Wait()
}

func (s *fakeSession) requestsOf(match func(*livekit.SignalRequest) bool) []*livekit.SignalRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*livekit.SignalRequest
	for _, r := range s.requests {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

func (s *fakeSession) publishedFrames() []lkmedia.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]lkmedia.Frame(nil), s.frames...)
}

// eventually polls cond (test helper for the fake server's side).
func eventually(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *fakeSession) ridCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.rids {
		out[k] = v
	}
	return out
}
