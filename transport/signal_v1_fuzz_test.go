package transport

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// FuzzDecodeJoinRequest feeds arbitrary join_request parameters to the decoder: it must return a
// JoinRequest or an error, never panic, never accept one larger than the cap, and whatever it
// accepts must encode again.
func FuzzDecodeJoinRequest(f *testing.F) {
	jr := &livekit.JoinRequest{
		ClientInfo:         &livekit.ClientInfo{Sdk: livekit.ClientInfo_JS, Protocol: 17},
		ConnectionSettings: &livekit.ConnectionSettings{AutoSubscribe: true},
		PublisherOffer:     &livekit.SessionDescription{Type: "offer", Sdp: "v=0\r\n", Id: 1},
		AddTrackRequests:   []*livekit.AddTrackRequest{{Cid: "c1", Type: livekit.TrackType_AUDIO}},
	}
	f.Add(wrapJoinRequest(f, jr, true))
	f.Add(wrapJoinRequest(f, jr, false))
	f.Add("AAAA")
	f.Add("CAESAA==") // GZIP of nothing
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := decodeJoinRequest(raw)
		if err != nil {
			if got != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		b, err := proto.Marshal(got)
		if err != nil {
			t.Fatalf("accepted a JoinRequest that does not encode: %v", err)
		}
		if len(b) > maxJoinRequestSize {
			t.Fatalf("accepted a %d-byte JoinRequest, cap %d", len(b), maxJoinRequestSize)
		}
	})
}
