package lkclient

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v3"
	"google.golang.org/protobuf/proto"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

func TestRTCURL(t *testing.T) {
	tests := []struct {
		name, in string
		opts     Options
		wantBase string
		want     map[string]string
		absent   []string
	}{
		{"query token", "http://127.0.0.1:7880", Options{}, "ws://127.0.0.1:7880/rtc",
			map[string]string{"access_token": "tok", "auto_subscribe": "1", "sdk": "go", "version": DefaultSDKVersion, "protocol": "17"}, nil},
		{"bearer, no autosub, path kept", "wss://h/base/", Options{BearerHeader: true, NoAutoSubscribe: true, AdaptiveStream: true}, "wss://h/base/rtc",
			map[string]string{"auto_subscribe": "0", "adaptive_stream": "1"}, []string{"access_token"}},
		{"extra query", "ws://127.0.0.1:1", Options{ExtraQuery: url.Values{"reconnect": {"1"}}, SDK: "js", Version: "2.23.0"}, "ws://127.0.0.1:1/rtc",
			map[string]string{"reconnect": "1", "sdk": "js", "version": "2.23.0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RTCURL(tt.in, "tok", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(got)
			if base := u.Scheme + "://" + u.Host + u.Path; base != tt.wantBase {
				t.Fatalf("base %s, want %s", base, tt.wantBase)
			}
			for k, v := range tt.want {
				if u.Query().Get(k) != v {
					t.Errorf("%s=%q, want %q", k, u.Query().Get(k), v)
				}
			}
			for _, k := range tt.absent {
				if u.Query().Has(k) {
					t.Errorf("%s present", k)
				}
			}
		})
	}
	if _, err := RTCURL("ftp://x", "t", Options{}); err == nil {
		t.Fatal("ftp accepted")
	}
	if r := redactToken("ws://h/rtc?access_token=secret&x=1"); strings.Contains(r, "secret") {
		t.Fatal(r)
	}
}

func TestEncodeDecodeSignal(t *testing.T) {
	req := &livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{
		CandidateInit: `{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host"}`, Target: livekit.SignalTarget_SUBSCRIBER,
	}}}
	for _, json := range []bool{false, true} {
		mt, b, err := EncodeRequest(req, json)
		if err != nil {
			t.Fatal(err)
		}
		if json != (mt == websocket.TextMessage) {
			t.Fatalf("json=%v: message type %d", json, mt)
		}
		if json && !bytes.Contains(b, []byte(`"candidateInit"`)) {
			t.Fatalf("json field name: %s", b)
		}
		// A response with the same field layout decodes from either framing.
		res := &livekit.SignalResponse{Message: &livekit.SignalResponse_Trickle{Trickle: req.GetTrickle()}}
		var rb []byte
		if json { // SignalRequest and SignalResponse both call it "trickle"
			rb = b
		} else {
			rb, _ = proto.Marshal(res)
		}
		got, err := DecodeResponse(mt, rb)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.GetTrickle(), req.GetTrickle()) {
			t.Fatalf("json=%v: got %v", json, got)
		}
	}
	if _, err := DecodeResponse(websocket.BinaryMessage, []byte{0xff, 0xff}); err == nil {
		t.Fatal("garbage decoded")
	}
}

func TestDataPacketRoundTrip(t *testing.T) {
	pkt := NewUserPacket([]byte("hi"), DataOptions{Reliable: true, Topic: "chat", DestinationIdentities: []string{"bob"}})
	if pkt.GetKind() != livekit.DataPacket_RELIABLE || pkt.GetUser().GetTopic() != "chat" ||
		pkt.GetDestinationIdentities()[0] != "bob" || pkt.GetUser().GetDestinationIdentities()[0] != "bob" {
		t.Fatalf("packet %v", pkt)
	}
	if NewUserPacket(nil, DataOptions{}).GetUser().Topic != nil {
		t.Fatal("empty topic must be absent")
	}
	// The server stamps the sender; user.participant_identity is the fallback.
	pkt.ParticipantSid = "PA_a"
	pkt.GetUser().ParticipantIdentity = "alice"
	b, _ := proto.Marshal(pkt)
	d, err := DecodeDataPacket(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.Identity != "alice" || d.SID != "PA_a" || string(d.Payload) != "hi" || d.Topic != "chat" {
		t.Fatalf("%+v", d)
	}
	pkt.ParticipantIdentity = "stamped"
	b, _ = proto.Marshal(pkt)
	if d, _ = DecodeDataPacket(b); d.Identity != "stamped" {
		t.Fatalf("identity %q", d.Identity)
	}
}

func TestParseStreamID(t *testing.T) {
	tests := []struct{ stream, track, psid, tsid string }{
		{"PA_x|TR_y", "TR_y", "PA_x", "TR_y"},
		{"PA_x|camera", "TR_z", "PA_x", "TR_z"},
		{"PA_x", "TR_z", "PA_x", "TR_z"},
		{"PA_x|TR_a|b", "t", "PA_x", "TR_a|b"},
	}
	for _, tt := range tests {
		p, tr := ParseStreamID(tt.stream, tt.track)
		if p != tt.psid || tr != tt.tsid {
			t.Errorf("%q/%q: %q %q", tt.stream, tt.track, p, tr)
		}
	}
}

func TestTrackOptionsNormalize(t *testing.T) {
	o := TrackOptions{Kind: webrtc.RTPCodecTypeVideo, Simulcast: true, Width: 1280, Height: 720, CID: "c1"}
	kind, err := o.normalize()
	if err != nil || kind != webrtc.RTPCodecTypeVideo || o.Codec != webrtc.MimeTypeVP8 || o.Source != livekit.TrackSource_CAMERA {
		t.Fatalf("%v %v %+v", kind, err, o)
	}
	req := o.addTrackRequest(kind)
	if req.GetType() != livekit.TrackType_VIDEO || len(req.GetLayers()) != 3 || req.GetLayers()[0].GetWidth() != 320 ||
		req.GetLayers()[2].GetQuality() != livekit.VideoQuality_HIGH || req.GetSimulcastCodecs()[0].GetCid() != "c1" {
		t.Fatalf("add_track %v", req)
	}
	a := TrackOptions{Codec: "audio/OPUS", Simulcast: true}
	kind, err = a.normalize()
	if err != nil || kind != webrtc.RTPCodecTypeAudio || a.Simulcast || a.Source != livekit.TrackSource_MICROPHONE || !strings.HasPrefix(a.CID, "cid_") {
		t.Fatalf("%v %v %+v", kind, err, a)
	}
	if req := a.addTrackRequest(kind); req.GetType() != livekit.TrackType_AUDIO || len(req.GetLayers()) != 0 {
		t.Fatalf("audio add_track %v", req)
	}
	if _, err := (&TrackOptions{}).normalize(); err == nil {
		t.Fatal("empty options accepted")
	}
	if _, err := codecCapability("video/AV9"); err == nil {
		t.Fatal("unknown codec accepted")
	}
}

func TestAppendBounded(t *testing.T) {
	var s []int
	for i := 0; i < 10; i++ {
		s = appendBounded(s, i, 4)
	}
	if len(s) != 4 || s[0] != 6 || s[3] != 9 {
		t.Fatalf("%v", s)
	}
}

func TestEventQueueOrderAndStop(t *testing.T) {
	q := newEventQueue()
	var got []int
	for i := 0; i < 100; i++ {
		q.push(func() { got = append(got, i) })
	}
	q.stop()
	<-q.exited
	q.push(func() { t.Error("ran after stop") })
	if len(got) != 100 || got[99] != 99 {
		t.Fatalf("%d events", len(got))
	}
}
