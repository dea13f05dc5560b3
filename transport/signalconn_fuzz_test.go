package transport

import (
	"testing"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// FuzzDecodeSignalRequest feeds arbitrary frames, binary (protobuf) and text (protojson), to the
// decoder the read loop uses. It must return a request or an error, never panic, and whatever it
// accepts must encode again.
func FuzzDecodeSignalRequest(f *testing.F) {
	seeds := []*livekit.SignalRequest{
		{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: "v=0\r\n", Id: 3}}},
		{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{CandidateInit: `{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host"}`, Target: livekit.SignalTarget_SUBSCRIBER}}},
		{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{Cid: "c1", Type: livekit.TrackType_VIDEO, Layers: []*livekit.VideoLayer{{Quality: livekit.VideoQuality_HIGH, Width: 640}}}}},
		{Message: &livekit.SignalRequest_Subscription{Subscription: &livekit.UpdateSubscription{Subscribe: true, ParticipantTracks: []*livekit.ParticipantTracks{{ParticipantSid: "PA_1", TrackSids: []string{"TR_1"}}}}}},
		{Message: &livekit.SignalRequest_PingReq{PingReq: &livekit.Ping{Timestamp: 1, Rtt: 2}}},
		{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{Reason: livekit.DisconnectReason_CLIENT_INITIATED}}},
		{Message: &livekit.SignalRequest_UpdateMetadata{UpdateMetadata: &livekit.UpdateParticipantMetadata{Metadata: "m", Attributes: map[string]string{"a": "b"}}}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(true, b)
		j, err := protojson.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(false, j)
	}
	f.Add(true, []byte{0x0a, 0x05, 0x0a})            // truncated offer
	f.Add(true, []byte{0xfa, 0x06, 0x01, 0x00})      // unknown field 111
	f.Add(false, []byte(`{"offer":{"sdp":1}}`))      // wrong JSON type
	f.Add(false, []byte(`{"unknownThing":{"a":1}}`)) // unknown JSON field

	f.Fuzz(func(t *testing.T, binary bool, data []byte) {
		mt := websocket.TextMessage
		if binary {
			mt = websocket.BinaryMessage
		}
		req, err := decodeSignalRequest(mt, data)
		if err != nil {
			if req != nil {
				t.Fatal("decodeSignalRequest returned a request with an error")
			}
			return
		}
		out, err := proto.Marshal(req)
		if err != nil {
			t.Fatalf("accepted request does not encode: %v", err)
		}
		again := &livekit.SignalRequest{}
		if err := proto.Unmarshal(out, again); err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		if !proto.Equal(req, again) {
			t.Fatalf("round trip changed the request:\n%v\n%v", req, again)
		}
	})
}
