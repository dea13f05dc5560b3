package scenarios

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// v1Client is a raw single-PeerConnection client, as livekit-client 2.17+ and server-sdk-go's
// WithSinglePeerConnection behave: it pre-creates 3 audio and 3 video recvonly transceivers and
// its data channels, puts its first offer (and its add_track requests) in the join_request of
// /rtc/v1, always offers itself, and answers media_sections_requirement by adding receive
// sections and offering again.
type v1Client struct {
	t   testing.TB
	ws  *websocket.Conn
	pc  *webrtc.PeerConnection
	wmu sync.Mutex // WebSocket writes

	join      chan *livekit.JoinResponse
	reconnect chan *livekit.ReconnectResponse
	tracks    chan *v1Track
	published chan *livekit.TrackPublishedResponse

	mu                    sync.Mutex
	negotiating, again    bool
	offerID               uint32
	midToTrack            map[string]string
	requirements          []*livekit.MediaSectionsRequirement
	serverOffers, refused int
	sid                   string
}

// v1Track is a track the client receives, with the track SID the answers mapped its mid to.
type v1Track struct {
	remote *webrtc.TrackRemote
	mid    string
}

// v1Publish is a track the client publishes inside its join.
type v1Publish struct {
	track *webrtc.TrackLocalStaticSample
	req   *livekit.AddTrackRequest
}

func newOpusTrack(t testing.TB, cid string) v1Publish {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, cid, "stream-"+cid)
	if err != nil {
		t.Fatal(err)
	}
	return v1Publish{track: tr, req: &livekit.AddTrackRequest{Cid: cid, Name: cid, Type: livekit.TrackType_AUDIO, Source: livekit.TrackSource_MICROPHONE}}
}

// newV1PC builds the client's PeerConnection on loopback with its pre-created sections.
func newV1PC(t testing.TB) *webrtc.PeerConnection {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	lkclient.LoopbackICE(&se)
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeAudio,
		webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pc.CreateDataChannel("_reliable", nil); err != nil {
		t.Fatal(err)
	}
	return pc
}

// joinV1 connects identity over /rtc/v1 with tracks published inside the join. With resumeSID
// set it resumes that session on pc instead (reconnect=true, participant_sid, an ICE restart
// offer), and the first frame is a ReconnectResponse.
func joinV1(ctx context.Context, t testing.TB, node *testkit.Node, room, identity string, pc *webrtc.PeerConnection, resumeSID string, pubs ...v1Publish) *v1Client {
	t.Helper()
	c := &v1Client{t: t, pc: pc, join: make(chan *livekit.JoinResponse, 1), reconnect: make(chan *livekit.ReconnectResponse, 1),
		tracks: make(chan *v1Track, 16), published: make(chan *livekit.TrackPublishedResponse, 16), midToTrack: map[string]string{}}
	jr := &livekit.JoinRequest{
		ClientInfo:         &livekit.ClientInfo{Sdk: livekit.ClientInfo_GO, Version: "2.19.0", Protocol: 17},
		ConnectionSettings: &livekit.ConnectionSettings{AutoSubscribe: true},
		Reconnect:          resumeSID != "",
		ParticipantSid:     resumeSID,
	}
	if resumeSID == "" {
		pc.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
			mid := ""
			for _, x := range pc.GetTransceivers() {
				if x.Receiver() == r {
					mid = x.Mid()
				}
			}
			c.tracks <- &v1Track{remote: tr, mid: mid}
		})
	}
	for _, p := range pubs {
		if _, err := pc.AddTransceiverFromTrack(p.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
		jr.AddTrackRequests = append(jr.AddTrackRequests, p.req)
	}
	jr.PublisherOffer = c.localOffer(&webrtc.OfferOptions{ICERestart: resumeSID != ""})
	c.negotiating = true
	q := url.Values{"access_token": {testkit.Token(t, room, identity, nil)}, "join_request": {wrap(t, jr)}}
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, node.WSURL+"/rtc/v1?"+q.Encode(), nil)
	if err != nil {
		t.Fatalf("%s dials /rtc/v1: %v (response %v)", identity, err, resp)
	}
	c.ws = ws
	t.Cleanup(func() { _ = ws.Close() })
	go c.readLoop()
	return c
}

// wrap encodes a JoinRequest as server-sdk-go does: gzipped, padded URL-safe base64.
func wrap(t testing.TB, jr *livekit.JoinRequest) string {
	body, err := proto.Marshal(jr)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(body)
	_ = zw.Close()
	data, err := proto.Marshal(&livekit.WrappedJoinRequest{Compression: livekit.WrappedJoinRequest_GZIP, JoinRequest: buf.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	return base64.URLEncoding.EncodeToString(data)
}

// localOffer creates and sets an offer and returns it with every candidate gathered (loopback
// gathering is instant), so the client needs no trickle of its own.
func (c *v1Client) localOffer(opts *webrtc.OfferOptions) *livekit.SessionDescription {
	offer, err := c.pc.CreateOffer(opts)
	if err != nil {
		c.t.Errorf("creating offer: %v", err)
		return nil
	}
	done := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		c.t.Errorf("setting offer: %v", err)
		return nil
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	c.mu.Lock()
	c.offerID++
	id := c.offerID
	c.mu.Unlock()
	return &livekit.SessionDescription{Type: "offer", Sdp: c.pc.LocalDescription().SDP, Id: id}
}

func (c *v1Client) send(req *livekit.SignalRequest) {
	data, err := proto.Marshal(req)
	if err != nil {
		c.t.Error(err)
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.WriteMessage(websocket.BinaryMessage, data)
}

// negotiate offers now, or once the offer in flight is answered.
func (c *v1Client) negotiate() {
	c.mu.Lock()
	if c.negotiating {
		c.again = true
		c.mu.Unlock()
		return
	}
	c.negotiating = true
	c.mu.Unlock()
	if o := c.localOffer(nil); o != nil {
		c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: o}})
	}
}

func (c *v1Client) readLoop() {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var resp livekit.SignalResponse
		if err := proto.Unmarshal(data, &resp); err != nil {
			c.t.Errorf("undecodable frame: %v", err)
			return
		}
		c.handle(&resp)
	}
}

func (c *v1Client) handle(resp *livekit.SignalResponse) {
	switch m := resp.GetMessage().(type) {
	case *livekit.SignalResponse_Join:
		c.mu.Lock()
		c.sid = m.Join.GetParticipant().GetSid()
		c.mu.Unlock()
		c.join <- m.Join
	case *livekit.SignalResponse_Reconnect:
		c.reconnect <- m.Reconnect
	case *livekit.SignalResponse_Answer:
		c.answered(m.Answer)
	case *livekit.SignalResponse_Trickle:
		var init webrtc.ICECandidateInit
		if err := json.Unmarshal([]byte(m.Trickle.GetCandidateInit()), &init); err == nil && init.Candidate != "" {
			if m.Trickle.GetTarget() != livekit.SignalTarget_PUBLISHER {
				c.t.Errorf("single-PC trickle for target %s", m.Trickle.GetTarget())
			}
			_ = c.pc.AddICECandidate(init)
		}
	case *livekit.SignalResponse_TrackPublished:
		c.published <- m.TrackPublished
	case *livekit.SignalResponse_MediaSectionsRequirement:
		c.mu.Lock()
		c.requirements = append(c.requirements, m.MediaSectionsRequirement)
		c.mu.Unlock()
		c.addSections(m.MediaSectionsRequirement)
		go c.negotiate()
	case *livekit.SignalResponse_Offer:
		c.mu.Lock()
		c.serverOffers++
		c.mu.Unlock()
	case *livekit.SignalResponse_RequestResponse:
		if m.RequestResponse.GetReason() != livekit.RequestResponse_OK {
			c.mu.Lock()
			c.refused++
			c.mu.Unlock()
			c.t.Logf("request refused: %v", m.RequestResponse)
		}
	}
}

func (c *v1Client) addSections(req *livekit.MediaSectionsRequirement) {
	for kind, n := range map[webrtc.RTPCodecType]uint32{webrtc.RTPCodecTypeAudio: req.GetNumAudios(), webrtc.RTPCodecTypeVideo: req.GetNumVideos()} {
		for range n {
			if _, err := c.pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				c.t.Errorf("adding a receive section: %v", err)
			}
		}
	}
}

func (c *v1Client) answered(sd *livekit.SessionDescription) {
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sd.GetSdp()}); err != nil {
		c.t.Errorf("applying answer %d: %v", sd.GetId(), err)
	}
	c.mu.Lock()
	for mid, sid := range sd.GetMidToTrackId() {
		c.midToTrack[mid] = sid
	}
	c.negotiating = false
	again := c.again
	c.again = false
	c.mu.Unlock()
	if again {
		go c.negotiate()
	}
}

// publishLater adds a track after the join: add_track, then a new offer.
func (c *v1Client) publishLater(p v1Publish) {
	if _, err := c.pc.AddTransceiverFromTrack(p.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		c.t.Fatal(err)
	}
	c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: p.req}})
	c.negotiate()
}

// trackFor is the SID the answers mapped mid to.
func (c *v1Client) trackFor(mid string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.midToTrack[mid]
}

func (c *v1Client) stats() (requirements []*livekit.MediaSectionsRequirement, serverOffers, refused int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*livekit.MediaSectionsRequirement(nil), c.requirements...), c.serverOffers, c.refused
}

// sendOpus paces synthetic Opus packets on tr every 20 ms until ctx ends or frames were sent,
// and returns the number sent.
func sendOpus(ctx context.Context, tr *webrtc.TrackLocalStaticSample, frames uint64) uint64 {
	gen := synth.NewOpusGenerator(60)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for gen.Count() < frames {
		select {
		case <-ctx.Done():
			return gen.Count()
		case <-tick.C:
		}
		if err := tr.WriteSample(media.Sample{Data: gen.Next(), Duration: 20 * time.Millisecond}); err != nil {
			return gen.Count()
		}
	}
	return gen.Count()
}

// collectV1 records the synthetic Opus packets of a received track.
func collectV1(rt *webrtc.TrackRemote) *collector {
	c := &collector{got: map[uint64]bool{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			pkt, _, err := rt.ReadRTP()
			if err != nil {
				return
			}
			n, err := synth.ParseSyntheticOpus(pkt.Payload)
			c.record(n, err)
		}
	}()
	return c
}

// waitTracks waits for n tracks to arrive on c.
func (c *v1Client) waitTracks(ctx context.Context, n int) ([]*v1Track, error) {
	var out []*v1Track
	for len(out) < n {
		select {
		case tr := <-c.tracks:
			out = append(out, tr)
		case <-ctx.Done():
			return out, fmt.Errorf("%d of %d tracks arrived: %w", len(out), n, ctx.Err())
		}
	}
	return out, nil
}
