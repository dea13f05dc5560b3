package actors

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// FuzzDecodeClientData feeds arbitrary data channel messages to the decoder of client data: it
// must never panic, and whatever it accepts must come out as a DataPacket that decodes again, of
// the channel's kind, stamped with the sender (blank for a hidden one) in the packet and its user
// packet, with the destinations synced between the two, and never a transcription from a
// participant that is not an agent.
func FuzzDecodeClientData(f *testing.F) {
	seed := func(pkt *livekit.DataPacket) []byte {
		b, err := proto.Marshal(pkt)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	topic := "chat"
	f.Add(seed(&livekit.DataPacket{Kind: livekit.DataPacket_RELIABLE, Value: &livekit.DataPacket_User{User: &livekit.UserPacket{Payload: []byte("hi"), Topic: &topic}}}), false, false, false)
	f.Add(seed(&livekit.DataPacket{ParticipantIdentity: "forged", DestinationIdentities: []string{"bob"}, Value: &livekit.DataPacket_User{User: &livekit.UserPacket{ParticipantIdentity: "forged"}}}), true, false, false)
	f.Add(seed(&livekit.DataPacket{Value: &livekit.DataPacket_User{User: &livekit.UserPacket{DestinationIdentities: []string{"carol"}, DestinationSids: []string{"PA_x"}}}}), false, true, false)
	f.Add(seed(&livekit.DataPacket{Value: &livekit.DataPacket_Transcription{Transcription: &livekit.Transcription{}}}), false, false, false)
	f.Add(seed(&livekit.DataPacket{Value: &livekit.DataPacket_Transcription{Transcription: &livekit.Transcription{}}}), false, false, true)
	f.Add(seed(&livekit.DataPacket{Sequence: 7, Value: &livekit.DataPacket_RpcRequest{RpcRequest: &livekit.RpcRequest{Id: "1", Method: "m"}}}), false, false, false)
	f.Add([]byte{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f}, false, false, false) // a length past the end
	f.Add([]byte{}, true, false, false)
	f.Fuzz(func(t *testing.T, data []byte, lossy, hidden, agent bool) {
		label := reliableLabel
		if lossy {
			label = lossyLabel
		}
		from := dataSender{identity: "alice", sid: "PA_alice", agent: agent, hidden: hidden}
		msg, err := decodeClientData(label, data, from)
		if err != nil {
			if msg != nil {
				t.Fatal("a refusal came with a message")
			}
			return
		}
		var in livekit.DataPacket
		if proto.Unmarshal(data, &in) != nil {
			t.Fatal("accepted bytes that are not a DataPacket")
		}
		if _, tr := in.GetValue().(*livekit.DataPacket_Transcription); tr && !agent {
			t.Fatal("accepted a transcription from a participant that is not an agent")
		}
		var out livekit.DataPacket
		if err := proto.Unmarshal(msg.data, &out); err != nil {
			t.Fatalf("the relayed packet does not decode: %v", err)
		}
		wantKind := livekit.DataPacket_RELIABLE
		if lossy {
			wantKind = livekit.DataPacket_LOSSY
		}
		if msg.kind != wantKind || out.GetKind() != wantKind {
			t.Fatalf("kind %v / %v, want %v", msg.kind, out.GetKind(), wantKind)
		}
		wantID, wantSID := "alice", "PA_alice"
		if hidden {
			wantID, wantSID = "", ""
		}
		if out.GetParticipantIdentity() != wantID || out.GetParticipantSid() != wantSID || msg.senderIdentity != "alice" {
			t.Fatalf("stamped %q %q (sender %q), want %q %q", out.GetParticipantIdentity(), out.GetParticipantSid(), msg.senderIdentity, wantID, wantSID)
		}
		if u := out.GetUser(); u != nil {
			if u.GetParticipantIdentity() != wantID || u.GetParticipantSid() != wantSID {
				t.Fatalf("user packet stamped %q %q", u.GetParticipantIdentity(), u.GetParticipantSid())
			}
			if len(out.GetDestinationIdentities()) > 0 && !slices.Equal(u.GetDestinationIdentities(), out.GetDestinationIdentities()) {
				t.Fatalf("destinations not synced: %v vs %v", u.GetDestinationIdentities(), out.GetDestinationIdentities())
			}
		}
		if !slices.Equal(msg.dest, out.GetDestinationIdentities()) {
			t.Fatalf("room told %v, packet says %v", msg.dest, out.GetDestinationIdentities())
		}
	})
}

// The decoder refuses what is not a DataPacket and a non-agent's transcription, with reasons.
func TestDecodeClientDataRefusals(t *testing.T) {
	from := dataSender{identity: "alice", sid: "PA_alice"}
	if _, err := decodeClientData(reliableLabel, []byte{0x12, 0xff}, from); err == nil {
		t.Error("truncated bytes accepted")
	}
	b, _ := proto.Marshal(&livekit.DataPacket{Value: &livekit.DataPacket_Transcription{Transcription: &livekit.Transcription{}}})
	if _, err := decodeClientData(reliableLabel, b, from); !errors.Is(err, errTranscriptionRefused) {
		t.Errorf("transcription from a non-agent = %v, want errTranscriptionRefused", err)
	}
	from.agent = true
	if _, err := decodeClientData(reliableLabel, b, from); err != nil {
		t.Errorf("transcription from an agent = %v", err)
	}
}
