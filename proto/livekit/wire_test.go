package livekit

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func TestSignalResponseJoinRoundTrip(t *testing.T) {
	in := &SignalResponse{Message: &SignalResponse_Join{Join: &JoinResponse{
		Room:        &Room{Sid: "RM_1", Name: "r1", EmptyTimeout: 300},
		Participant: &ParticipantInfo{Sid: "PA_1", Identity: "alice", State: ParticipantInfo_JOINED, Version: 3},
		OtherParticipants: []*ParticipantInfo{{
			Sid: "PA_2", Identity: "bob",
			Tracks: []*TrackInfo{{Sid: "TR_VC1", Type: TrackType_VIDEO, Source: TrackSource_CAMERA}},
		}},
		SubscriberPrimary:    true,
		PingTimeout:          15,
		PingInterval:         5,
		ServerInfo:           &ServerInfo{Version: "1.9.0", Protocol: 17},
		ClientConfiguration:  &ClientConfiguration{ResumeConnection: ClientConfigSetting_DISABLED},
		EnabledPublishCodecs: []*Codec{{Mime: "video/VP8"}},
		FastPublish:          true,
	}}}
	b, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	// field 1 (join), wire type 2 => first byte 0x0a
	if len(b) == 0 || b[0] != 0x0a {
		t.Fatalf("unexpected leading tag byte %x", b[:1])
	}
	out := &SignalResponse{}
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, out) {
		t.Fatalf("round trip mismatch:\n in=%v\nout=%v", in, out)
	}
	if out.GetJoin().GetOtherParticipants()[0].GetTracks()[0].GetSid() != "TR_VC1" {
		t.Fatal("lost nested track")
	}
}

func TestTrickleRequestWireAndJSON(t *testing.T) {
	tr := &TrickleRequest{CandidateInit: `{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host"}`, Target: SignalTarget_SUBSCRIBER}
	j, err := protojson.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(j), `"candidateInit"`) {
		t.Fatalf("expected candidateInit key, got %s", j)
	}
	b, _ := proto.Marshal(&SignalRequest{Message: &SignalRequest_Trickle{Trickle: tr}})
	if b[0] != 0x1a { // field 3, wire type 2
		t.Fatalf("trickle tag = %x", b[0])
	}
}

func TestCreateRoomRequestJSONNames(t *testing.T) {
	j, err := protojson.Marshal(&CreateRoomRequest{Name: "r", EmptyTimeout: 10, MaxParticipants: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"emptyTimeout"`, `"maxParticipants"`} {
		if !bytes.Contains(j, []byte(k)) {
			t.Fatalf("missing %s in %s", k, j)
		}
	}
	// both lowerCamelCase and original snake_case names are accepted on input
	for _, in := range []string{`{"name":"r","emptyTimeout":10}`, `{"name":"r","empty_timeout":10}`} {
		var req CreateRoomRequest
		if err := protojson.Unmarshal([]byte(in), &req); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if req.GetEmptyTimeout() != 10 {
			t.Fatalf("%s: emptyTimeout=%d", in, req.GetEmptyTimeout())
		}
	}
}

func TestDataPacketUserRoundTrip(t *testing.T) {
	topic := "chat"
	in := &DataPacket{
		ParticipantIdentity: "alice",
		Sequence:            1,
		Value:               &DataPacket_User{User: &UserPacket{Payload: []byte("hi"), Topic: &topic}},
	}
	b, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := &DataPacket{}
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, out) {
		t.Fatal("data packet round trip mismatch")
	}
}
