package lkclient_test

import (
	"encoding/json"
	"strings"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

func encodeResponse(res *livekit.SignalResponse, asJSON bool) (int, []byte, error) {
	if asJSON {
		b, err := protojson.Marshal(res)
		return websocket.TextMessage, b, err
	}
	b, err := proto.Marshal(res)
	return websocket.BinaryMessage, b, err
}

func decodeRequest(mt int, b []byte) (*livekit.SignalRequest, error) {
	req := &livekit.SignalRequest{}
	if mt == websocket.TextMessage {
		return req, protojson.Unmarshal(b, req)
	}
	return req, proto.Unmarshal(b, req)
}

func protoMarshal(m proto.Message) ([]byte, error) { return proto.Marshal(m) }

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// candidatesOf extracts a=candidate lines from an SDP as ICECandidateInit.
func candidatesOf(sdp string) []webrtc.ICECandidateInit {
	var out []webrtc.ICECandidateInit
	zero := uint16(0)
	seen := map[string]bool{}
	for _, line := range strings.Split(sdp, "\r\n") {
		if c, ok := strings.CutPrefix(line, "a="); ok && strings.HasPrefix(c, "candidate:") && !seen[c] {
			seen[c] = true
			out = append(out, webrtc.ICECandidateInit{Candidate: c, SDPMLineIndex: &zero})
		}
	}
	return out
}

func trickleResponse(c webrtc.ICECandidateInit, target livekit.SignalTarget) *livekit.SignalResponse {
	b, _ := json.Marshal(c)
	return &livekit.SignalResponse{Message: &livekit.SignalResponse_Trickle{Trickle: &livekit.TrickleRequest{
		CandidateInit: string(b), Target: target,
	}}}
}
