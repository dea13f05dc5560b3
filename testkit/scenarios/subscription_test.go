package scenarios

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// A subscriber that joined with auto_subscribe off receives nothing until it asks: by track SID,
// then (after unsubscribing) by participant_tracks. Disabling the track in UpdateTrackSettings
// stops the packets; enabling it resumes them.
func TestManualSubscriptionAndTrackSettings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := testkit.StartNode(t, testkit.Options{})
	alice := join(ctx, t, node, "manual", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "manual", "bob", lkclient.Options{NoAutoSubscribe: true})

	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	if _, err := bob.WaitPublication(ctx, "alice", func(ti *livekit.TrackInfo) bool { return ti.GetSid() == cam.SID() }); err != nil {
		t.Fatalf("bob never saw alice's track published: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // long enough for a wrongful auto-subscription to show
	if rt := bob.RemoteTrack(cam.SID()); rt != nil {
		t.Fatalf("bob joined with auto_subscribe off but receives %s", cam.SID())
	}

	if err := bob.UpdateSubscription([]string{cam.SID()}, nil, true); err != nil {
		t.Fatal(err)
	}
	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatalf("subscribe by track_sids: %v", err)
	}
	if err := rt.WaitPackets(ctx, 30); err != nil {
		t.Fatal(err)
	}

	// disabled pauses forwarding; the counter must stand still (allowing packets in flight).
	if err := bob.UpdateTrackSettings(&livekit.UpdateTrackSettings{TrackSids: []string{cam.SID()}, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	paused := rt.Stats().Packets
	time.Sleep(700 * time.Millisecond)
	if grew := rt.Stats().Packets - paused; grew > 2 {
		t.Fatalf("%d packets arrived while the track was disabled", grew)
	}
	if err := bob.UpdateTrackSettings(&livekit.UpdateTrackSettings{TrackSids: []string{cam.SID()}, Disabled: false}); err != nil {
		t.Fatal(err)
	}
	if err := rt.WaitPackets(ctx, paused+30); err != nil {
		t.Fatalf("forwarding did not resume after enabling: %v", err)
	}

	if err := bob.UpdateSubscription([]string{cam.SID()}, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitUnsubscribed(ctx, cam.SID()); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}

	pt := []*livekit.ParticipantTracks{{ParticipantSid: alice.SID(), TrackSids: []string{cam.SID()}}}
	if err := bob.UpdateSubscription(nil, pt, true); err != nil {
		t.Fatal(err)
	}
	rt, err = bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatalf("subscribe by participant_tracks: %v", err)
	}
	if err := rt.WaitPackets(ctx, 30); err != nil {
		t.Fatal(err)
	}
}

// H.264 is negotiated end to end and its payloads are forwarded unchanged.
func TestH264PayloadsForwardedUnchanged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := testkit.StartNode(t, testkit.Options{})
	alice := join(ctx, t, node, "h264", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "h264", "bob", lkclient.Options{})

	cam, err := alice.PublishTrack(ctx, lkclient.TrackOptions{Codec: webrtc.MimeTypeH264, RawRTP: true, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	// Single NAL unit packets: an IDR slice (type 5) every 30 packets, non-IDR slices (type 1)
	// otherwise, each with a payload that names its sequence number.
	payload := func(seq uint16) []byte {
		nal := byte(0x61) // nal_ref_idc 3, type 1
		if seq%30 == 1 {
			nal = 0x65 // IDR
		}
		return append([]byte{nal, byte(seq >> 8), byte(seq)}, bytes.Repeat([]byte{byte(seq)}, 200)...)
	}
	const total = 300
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); seq <= total; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			p := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: uint32(seq) * 3000}, Payload: payload(seq)}
			if err := cam.WriteRTP(p); err != nil {
				return
			}
		}
	}()

	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatalf("bob never got alice's H.264 track: %v", err)
	}
	if rt.Codec.MimeType != webrtc.MimeTypeH264 {
		t.Fatalf("bob's codec = %s, want H264", rt.Codec.MimeType)
	}
	got := map[uint16]bool{}
	bad := 0
	done := time.After(20 * time.Second)
	for {
		select {
		case p, ok := <-rt.Packets():
			if !ok {
				t.Fatal("track ended early")
			}
			if len(p.Payload) < 3 {
				bad++
				continue
			}
			seq := uint16(p.Payload[1])<<8 | uint16(p.Payload[2])
			if !bytes.Equal(p.Payload, payload(seq)) {
				bad++
			}
			got[seq] = true
		case <-done:
			t.Fatalf("only %d packets arrived", len(got))
		}
		if got[total] || (len(got) > 0 && isClosed(sent) && len(got) >= total*99/100) {
			break
		}
	}
	if bad > 0 {
		t.Errorf("%d H.264 payloads changed on the way", bad)
	}
	first := uint16(total)
	for s := range got {
		first = min(first, s)
	}
	if want := int(total - first + 1); len(got) < want*99/100 {
		t.Errorf("%d of %d packets from the first received arrived", len(got), want)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
